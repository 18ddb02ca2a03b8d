package actors

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure an Engine. A zero field means the default its comment
// names; Store is required.
type Options struct {
	// HeartbeatInterval is what clients are told to heartbeat at (25s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is the silence after which a connection is closed (30s).
	HeartbeatTimeout time.Duration
	// OfflineGrace is how long a user with no connection stays shown (2s).
	OfflineGrace time.Duration
	// CoalesceWindow throttles presence frames per viewer connection (50ms).
	CoalesceWindow time.Duration
	// Visibility is who may see whom (contacts).
	Visibility Visibility
	// MaxSubscriptions bounds presence:subscribe per connection (1000).
	MaxSubscriptions int
	// MaxConnectionsPerUser bounds a user's live connections (10).
	MaxConnectionsPerUser int
	// MaxFocusPerConnection bounds the chats one connection has open (64).
	MaxFocusPerConnection int
	// MaxMessageBytes bounds message content (4096).
	MaxMessageBytes int
	// AskTimeout bounds a request from outside the actors to an actor (5s).
	AskTimeout time.Duration

	// Store keeps users, conversations and messages. Required.
	Store Store
	// Clock is RealClock when nil.
	Clock Clock
	// Logger discards when nil.
	Logger *slog.Logger
	// Registerer receives the engine's metrics; none are registered when nil.
	Registerer prometheus.Registerer
	// Cluster, when set, makes the engine a cluster member.
	Cluster *ClusterOptions

	// Synchronous runs every actor on the goroutine of its sender and every
	// store call inline, so that a test's Send or clock Advance has been
	// fully handled when it returns. Never set it in production.
	Synchronous bool
}

func (o *Options) setDefaults() error {
	if o.Store == nil {
		return errors.New("actors: Options.Store is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&o.HeartbeatInterval, 25*time.Second)
	def(&o.HeartbeatTimeout, 30*time.Second)
	def(&o.OfflineGrace, 2*time.Second)
	def(&o.CoalesceWindow, 50*time.Millisecond)
	def(&o.AskTimeout, 5*time.Second)
	defInt(&o.MaxSubscriptions, 1000)
	defInt(&o.MaxConnectionsPerUser, 10)
	defInt(&o.MaxFocusPerConnection, 64)
	defInt(&o.MaxMessageBytes, 4096)
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
