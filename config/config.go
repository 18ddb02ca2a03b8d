package config

import (
	"strings"
	"time"
)

// Values of the enumerated keys that cmd branches on. The other enums (log
// level and format, visibility, cluster provider) are passed through as
// strings.
const (
	AuthJWT = "jwt"
	AuthDev = "dev"

	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"

	ProviderAutomanaged = "automanaged"
	ProviderEtcd        = "etcd"
)

// Config is the effective configuration. Each field is one key of CONFIG.md;
// the key is given in the field's comment.
type Config struct {
	Listen   string // listen: HTTP and WebSocket address, host:port.
	Log      Log
	Auth     Auth
	Presence Presence
	Limits   Limits
	Store    Store
	Cluster  Cluster
	Metrics  Metrics
	Shutdown Shutdown
}

// Log holds the log.* keys.
type Log struct {
	Level  string // log.level: debug, info, warn or error.
	Format string // log.format: text or json.
}

// Auth holds the auth.* keys.
type Auth struct {
	Mode           string   // auth.mode: jwt or dev.
	JWT            JWT      // auth.jwt.*
	AllowedOrigins []string // auth.allowed_origins: browser origins allowed on /ws.
}

// JWT holds the auth.jwt.* keys. Empty means unset.
type JWT struct {
	Secret        string // auth.jwt.secret: HS256 shared secret.
	PublicKeyFile string // auth.jwt.public_key_file: PEM key for RS256/ES256.
	Issuer        string // auth.jwt.issuer: checked when set.
	Audience      string // auth.jwt.audience: checked when set.
}

// Presence holds the presence.* keys.
type Presence struct {
	HeartbeatInterval time.Duration // presence.heartbeat_interval: told to clients.
	HeartbeatTimeout  time.Duration // presence.heartbeat_timeout: silence before closing.
	OfflineGrace      time.Duration // presence.offline_grace: last connection gone to offline.
	CoalesceWindow    time.Duration // presence.coalesce_window: per-viewer throttle.
	Visibility        string        // presence.visibility: contacts or all.
	MaxSubscriptions  int           // presence.max_subscriptions: per connection.
}

// Limits holds the limits.* keys.
type Limits struct {
	MaxFrameBytes         int64   // limits.max_frame_bytes: larger frames close with 1009.
	MaxMessageBytes       int     // limits.max_message_bytes: largest message content.
	RatePerSecond         float64 // limits.rate_per_second: frames per connection.
	RateBurst             int     // limits.rate_burst
	SendQueue             int     // limits.send_queue: frames queued before closing with 1008.
	MaxConnectionsPerUser int     // limits.max_connections_per_user: further ones get 429.
}

// Store holds the store.* keys.
type Store struct {
	Driver   string   // store.driver: sqlite or postgres.
	SQLite   SQLite   // store.sqlite.*
	Postgres Postgres // store.postgres.*
}

// SQLite holds the store.sqlite.* keys.
type SQLite struct {
	Path string // store.sqlite.path: created with its folder on first start.
}

// Postgres holds the store.postgres.* keys.
type Postgres struct {
	URL string // store.postgres.url: postgres://...; empty means unset.
}

// Cluster holds the cluster.* keys.
type Cluster struct {
	Enabled           bool     // cluster.enabled
	Name              string   // cluster.name
	Provider          string   // cluster.provider: automanaged, etcd, consul or k8s.
	AutomanagedPort   int      // cluster.automanaged_port
	Seeds             []string // cluster.seeds: host:port of every automanaged member.
	Etcd              Etcd     // cluster.etcd.*
	Host              string   // cluster.host: actor remoting host.
	Port              int      // cluster.port: actor remoting port; 0 picks a free one.
	AdvertisedAddress string   // cluster.advertised_address: empty means unset.
}

// Etcd holds the cluster.etcd.* keys.
type Etcd struct {
	Endpoints []string // cluster.etcd.endpoints
}

// Metrics holds the metrics.* keys.
type Metrics struct {
	Enabled bool // metrics.enabled: serve /metrics.
}

// Shutdown holds the shutdown.* keys.
type Shutdown struct {
	DrainTimeout time.Duration // shutdown.drain_timeout
}

// Default returns the built-in defaults of CONFIG.md: enough to run on one
// machine with nothing else installed, except that jwt auth still needs a
// key, so Default().Validate() fails until one is set (or auth.mode is dev).
func Default() *Config {
	return &Config{
		Listen:   "127.0.0.1:8080",
		Log:      Log{Level: "info", Format: "text"},
		Auth:     Auth{Mode: AuthJWT, AllowedOrigins: []string{}},
		Presence: defaultPresence(),
		Limits: Limits{
			MaxFrameBytes:         65536,
			MaxMessageBytes:       4096,
			RatePerSecond:         50,
			RateBurst:             100,
			SendQueue:             256,
			MaxConnectionsPerUser: 10,
		},
		Store: Store{
			Driver: StoreSQLite,
			SQLite: SQLite{Path: "./data/presenced.db"},
		},
		Cluster:  defaultCluster(),
		Metrics:  Metrics{Enabled: true},
		Shutdown: Shutdown{DrainTimeout: 10 * time.Second},
	}
}

func defaultPresence() Presence {
	return Presence{
		HeartbeatInterval: 25 * time.Second,
		HeartbeatTimeout:  30 * time.Second,
		OfflineGrace:      2 * time.Second,
		CoalesceWindow:    50 * time.Millisecond,
		Visibility:        "contacts",
		MaxSubscriptions:  1000,
	}
}

func defaultCluster() Cluster {
	return Cluster{
		Name:            "presenced",
		Provider:        ProviderAutomanaged,
		AutomanagedPort: 6330,
		Seeds:           []string{},
		Etcd:            Etcd{Endpoints: []string{}},
		Host:            "127.0.0.1",
	}
}

// Error is a configuration problem with one key. Key is a dotted key
// (presence.heartbeat_timeout), or a flag (--set) or a file path when the
// problem is with the command line or the file itself.
type Error struct {
	Key     string
	Problem string
	// Err is the underlying error, if any (a file that cannot be read).
	Err error
}

// Error returns one line, "config: KEY: PROBLEM", because the caller prints
// it as the only explanation before exiting.
func (e *Error) Error() string {
	return "config: " + e.Key + ": " + oneLine(e.Problem)
}

// oneLine joins the lines of a multi-line message (YAML parse errors have
// several) without touching spacing inside a line, which may be a quoted value.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, " ")
}

// Unwrap returns the underlying error, so callers can test for
// fs.ErrNotExist and the like.
func (e *Error) Unwrap() error { return e.Err }
