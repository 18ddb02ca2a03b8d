package actors

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus collectors.
type metrics struct {
	usersOnline     prometheus.Gauge
	usersHeld       prometheus.Gauge
	presenceChanges prometheus.Counter
	fanoutBatch     prometheus.Histogram
	framesPushed    prometheus.Counter
	fanout          prometheus.Histogram
	storeBatch      prometheus.Histogram
	storeLatency    prometheus.Histogram
	presenceDelay   prometheus.Histogram
	presenceHeld    prometheus.Counter
	messageAck      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		usersOnline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_users_online",
			Help: "Users with a user actor on this member: connected, or inside their offline grace.",
		}),
		usersHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_registry_users",
			Help: "Users whose presence this member's registry holds: online anywhere in the cluster, offline for " +
				"less than the retention, or subscribed to.",
		}),
		presenceChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_presence_changes_total",
			Help: "Presence states published by user actors.",
		}),
		fanoutBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_presence_fanout_batch_users",
			Help:    "Users per presence frame sent to a viewer connection (coalescing batches).",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 500, 1000, 5000},
		}),
		framesPushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_actor_frames_pushed_total",
			Help: "Frames the actors queued on connections.",
		}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_presence_fanout_seconds",
			Help:    "Time the registry takes to queue one presence change for every viewer connection that sees it.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 18),
		}),
		storeBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_store_batch_writes",
			Help:    "Writes (messages, read marks, user records) committed together by the persistence actor.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_store_batch_seconds",
			Help:    "Time to commit one batch of writes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		// The server's side of the two latencies a user notices, each up to
		// its frame being queued on the connection (the transport's
		// presenced_frame_wait_seconds is the rest).
		presenceDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "presenced_presence_delay_seconds",
			Help: "Time from the registry learning of a presence change to the change queued for a viewer connection, " +
				"the coalescing window's wait included; one observation per connection told.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		presenceHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_presence_held_total",
			Help: "Times presence for a viewer connection was held for another coalescing window because the connection " +
				"had not yet written its previous frame (the server or the client is behind).",
		}),
		messageAck: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "presenced_message_ack_seconds",
			Help: "Time from a sender's actor taking a send to its message:sent queued: the commit, and new_message " +
				"queued by every online recipient's actor, included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.usersOnline, m.usersHeld, m.presenceChanges, m.fanoutBatch, m.framesPushed, m.fanout, m.storeBatch, m.storeLatency,
			m.presenceDelay, m.presenceHeld, m.messageAck)
	}
	return m
}
