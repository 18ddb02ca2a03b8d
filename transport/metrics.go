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
	framesIn    *prometheus.CounterVec
	framesOut   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	slowClosed  prometheus.Counter
	frameWait   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, engine *actors.Engine) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_connections", Help: "Open WebSocket connections.",
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
	if reg != nil {
		reg.MustRegister(m.connections, m.framesIn, m.framesOut, m.errors, m.slowClosed, m.frameWait)
	}
	return m
}

// knownIn bounds the label values of frames_in to the protocol's types.
var knownIn = map[string]bool{
	messages.TypeHeartbeat: true, messages.TypeChatFocus: true, messages.TypeChatBlur: true,
	messages.TypeJoinConversation: true, messages.TypeLeaveConversation: true,
	messages.TypeSendMessage: true, messages.TypeMarkRead: true, messages.TypeTyping: true,
	messages.TypePresenceSubscribe: true, messages.TypePresenceUnsubscribe: true,
	messages.TypeHistory: true, "binary": true,
}

func (m *metrics) countIn(typ string) {
	if !knownIn[typ] {
		typ = "other"
	}
	m.framesIn.WithLabelValues(typ).Inc()
}

// countOut labels a written frame by its type, read off the frame's prefix:
// every server frame starts with {"type":"...".
func (m *metrics) countOut(frame []byte) {
	const prefix = `{"type":"`
	typ := "other"
	if bytes.HasPrefix(frame, []byte(prefix)) {
		rest := frame[len(prefix):]
		if i := bytes.IndexByte(rest, '"'); i > 0 && i < 32 {
			typ = string(rest[:i])
		}
	}
	m.framesOut.WithLabelValues(typ).Inc()
}

func (m *metrics) countError(code messages.Code) {
	m.errors.WithLabelValues(string(code)).Inc()
}
