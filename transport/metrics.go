package transport

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

// metrics are the transport's Prometheus collectors.
type metrics struct {
	connections prometheus.Gauge
	capacity    prometheus.Gauge
	refused     prometheus.Counter
	framesIn    *prometheus.CounterVec
	framesOut   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	slowClosed  prometheus.Counter
	frameWait   prometheus.Histogram

	// in and out hold the counters of the protocol's frame types, resolved
	// once: counting a frame is then a map lookup, with no label hashing,
	// and indexing with string(b) does not allocate.
	in, out map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, engine *actors.Engine) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_connections", Help: "Open WebSocket connections.",
		}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_connections_capacity", Help: "WebSocket connections this process accepts at most (0: no bound).",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_connections_refused_total", Help: "WebSocket upgrades refused because the process held its connection capacity.",
		}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_frames_in_total", Help: "Frames received from clients, by type.",
		}, []string{"type"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_frames_out_total", Help: "Frames written to clients, by type.",
		}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_errors_total", Help: "Errors answered to clients, by code.",
		}, []string{"code"}),
		frameWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_frame_wait_seconds",
			Help:    "Time from a frame queued for a client to its write completed: the server's side of delivery latency.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		slowClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_slow_connections_closed_total", Help: "Connections closed for reading too slowly: their send queue filled up or a write timed out.",
		}),
	}
	for _, c := range messages.Codes {
		m.errors.WithLabelValues(string(c))
	}
	// frames_in only ever counts these, so that a client cannot grow its
	// label values; "other" stands for the rest.
	m.in = resolve(m.framesIn,
		messages.TypeHeartbeat, messages.TypeChatFocus, messages.TypeChatBlur,
		messages.TypeJoinConversation, messages.TypeLeaveConversation,
		messages.TypeSendMessage, messages.TypeMarkRead, messages.TypeTyping,
		messages.TypePresenceSubscribe, messages.TypePresenceUnsubscribe,
		messages.TypeHistory, "binary", "other")
	m.out = resolve(m.framesOut,
		messages.TypePresenceConnected, messages.TypePresenceUpdate, messages.TypePresenceSnapshot,
		messages.TypeUnread, messages.TypeNewMessage, messages.TypeMessageSent,
		messages.TypeMessageRead, messages.TypeHeartbeatAck, messages.TypeError,
		messages.TypeHistory, messages.TypeTyping, "other")
	if reg != nil {
		reg.MustRegister(m.connections, m.capacity, m.refused, m.framesIn, m.framesOut, m.errors, m.slowClosed, m.frameWait)
	}
	return m
}

func resolve(vec *prometheus.CounterVec, types ...string) map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(types))
	for _, t := range types {
		m[t] = vec.WithLabelValues(t)
	}
	return m
}

func (m *metrics) countIn(typ string) {
	c, ok := m.in[typ]
	if !ok {
		c = m.in["other"]
	}
	c.Inc()
}

// countOut labels a written frame by its type, read off the frame's prefix:
// every server frame starts with {"type":"...".
func (m *metrics) countOut(frame []byte) {
	const prefix = `{"type":"`
	if bytes.HasPrefix(frame, []byte(prefix)) {
		rest := frame[len(prefix):]
		if i := bytes.IndexByte(rest, '"'); i > 0 && i < 32 {
			if c, ok := m.out[string(rest[:i])]; ok {
				c.Inc()
			} else {
				m.framesOut.WithLabelValues(string(rest[:i])).Inc()
			}
			return
		}
	}
	m.out["other"].Inc()
}

func (m *metrics) countError(code messages.Code) {
	m.errors.WithLabelValues(string(code)).Inc()
}
