package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// field is one key of CONFIG.md. The table below is the single list of keys:
// unknown-key detection, decoding, defaults for koanf, per-value rules and
// Print all walk it, so a key added here is handled everywhere at once.
type field struct {
	key string
	// ref returns a pointer to the Config field that holds the key. The
	// pointer's type (*string, *time.Duration, ...) is the key's type.
	ref func(*Config) any
	// enum, when set, lists the only strings the key accepts.
	enum []string
	// rule, when set, checks a decoded value and returns the problem, or "".
	rule func(v any) string
}

// fields is in CONFIG.md's order, which is also Print's order.
var fields = []field{
	{key: "listen", ref: func(c *Config) any { return &c.Listen }},
	{key: "log.level", ref: func(c *Config) any { return &c.Log.Level }, enum: []string{"debug", "info", "warn", "error"}},
	{key: "log.format", ref: func(c *Config) any { return &c.Log.Format }, enum: []string{"text", "json"}},
	{key: "auth.mode", ref: func(c *Config) any { return &c.Auth.Mode }, enum: []string{AuthJWT, AuthDev}},
	{key: "auth.jwt.secret", ref: func(c *Config) any { return &c.Auth.JWT.Secret }},
	{key: "auth.jwt.public_key_file", ref: func(c *Config) any { return &c.Auth.JWT.PublicKeyFile }},
	{key: "auth.jwt.issuer", ref: func(c *Config) any { return &c.Auth.JWT.Issuer }},
	{key: "auth.jwt.audience", ref: func(c *Config) any { return &c.Auth.JWT.Audience }},
	{key: "auth.allowed_origins", ref: func(c *Config) any { return &c.Auth.AllowedOrigins }, rule: noEmptyItems},
	{key: "presence.heartbeat_interval", ref: func(c *Config) any { return &c.Presence.HeartbeatInterval }, rule: positive},
	{key: "presence.heartbeat_timeout", ref: func(c *Config) any { return &c.Presence.HeartbeatTimeout }, rule: positive},
	{key: "presence.offline_grace", ref: func(c *Config) any { return &c.Presence.OfflineGrace }, rule: notNegative},
	{key: "presence.coalesce_window", ref: func(c *Config) any { return &c.Presence.CoalesceWindow }, rule: notNegative},
	{key: "presence.visibility", ref: func(c *Config) any { return &c.Presence.Visibility }, enum: []string{"contacts", "all"}},
	{key: "presence.max_subscriptions", ref: func(c *Config) any { return &c.Presence.MaxSubscriptions }, rule: positive},
	{key: "limits.max_frame_bytes", ref: func(c *Config) any { return &c.Limits.MaxFrameBytes }, rule: positive},
	{key: "limits.max_message_bytes", ref: func(c *Config) any { return &c.Limits.MaxMessageBytes }, rule: positive},
	{key: "limits.rate_per_second", ref: func(c *Config) any { return &c.Limits.RatePerSecond }, rule: positive},
	{key: "limits.rate_burst", ref: func(c *Config) any { return &c.Limits.RateBurst }, rule: positive},
	{key: "limits.send_queue", ref: func(c *Config) any { return &c.Limits.SendQueue }, rule: positive},
	{key: "limits.max_connections_per_user", ref: func(c *Config) any { return &c.Limits.MaxConnectionsPerUser }, rule: positive},
	{key: "store.driver", ref: func(c *Config) any { return &c.Store.Driver }, enum: []string{StoreSQLite, StorePostgres}},
	{key: "store.sqlite.path", ref: func(c *Config) any { return &c.Store.SQLite.Path }},
	{key: "store.postgres.url", ref: func(c *Config) any { return &c.Store.Postgres.URL }},
	{key: "cluster.enabled", ref: func(c *Config) any { return &c.Cluster.Enabled }},
	{key: "cluster.name", ref: func(c *Config) any { return &c.Cluster.Name }},
	{key: "cluster.provider", ref: func(c *Config) any { return &c.Cluster.Provider }, enum: []string{ProviderAutomanaged, ProviderEtcd, "consul", "k8s"}},
	// The automanaged endpoint is an HTTP server of its own, so it needs a
	// real port; the remoting port below may be 0 (pick a free one).
	{key: "cluster.automanaged_port", ref: func(c *Config) any { return &c.Cluster.AutomanagedPort }, rule: portRule(1)},
	{key: "cluster.seeds", ref: func(c *Config) any { return &c.Cluster.Seeds }, rule: allHostPort},
	{key: "cluster.etcd.endpoints", ref: func(c *Config) any { return &c.Cluster.Etcd.Endpoints }, rule: noEmptyItems},
	{key: "cluster.host", ref: func(c *Config) any { return &c.Cluster.Host }},
	{key: "cluster.port", ref: func(c *Config) any { return &c.Cluster.Port }, rule: portRule(0)},
	{key: "cluster.advertised_address", ref: func(c *Config) any { return &c.Cluster.AdvertisedAddress }},
	{key: "metrics.enabled", ref: func(c *Config) any { return &c.Metrics.Enabled }},
	{key: "shutdown.drain_timeout", ref: func(c *Config) any { return &c.Shutdown.DrainTimeout }, rule: positive},
}

var (
	// byKey finds a field by its dotted key.
	byKey = indexFields()
	// sections are the dotted prefixes of keys (auth, auth.jwt, ...): they
	// may appear empty in YAML ("auth:") but never hold a value themselves.
	sections = sectionNames()
)

func indexFields() map[string]field {
	m := make(map[string]field, len(fields))
	for _, f := range fields {
		m[f.key] = f
	}
	return m
}

func sectionNames() map[string]bool {
	m := make(map[string]bool)
	for _, f := range fields {
		parts := strings.Split(f.key, ".")
		for i := 1; i < len(parts); i++ {
			m[strings.Join(parts[:i], ".")] = true
		}
	}
	return m
}

// get returns the field's current value in c (a copy for lists).
func (f field) get(c *Config) any {
	switch p := f.ref(c).(type) {
	case *string:
		return *p
	case *[]string:
		return slices.Clone(*p)
	case *time.Duration:
		return *p
	case *int:
		return *p
	case *int64:
		return *p
	case *float64:
		return *p
	case *bool:
		return *p
	}
	panic("config: unsupported field type for " + f.key)
}

// set stores v, which decode produced for this field, into c.
func (f field) set(c *Config, v any) {
	switch p := f.ref(c).(type) {
	case *string:
		*p = v.(string)
	case *[]string:
		*p = slices.Clone(v.([]string))
	case *time.Duration:
		*p = v.(time.Duration)
	case *int:
		*p = v.(int)
	case *int64:
		*p = v.(int64)
	case *float64:
		*p = v.(float64)
	case *bool:
		*p = v.(bool)
	default:
		panic("config: unsupported field type for " + f.key)
	}
}

// problem applies the field's enum and rule to a decoded value.
func (f field) problem(v any) string {
	if f.enum != nil && !slices.Contains(f.enum, v.(string)) {
		return fmt.Sprintf("%q is not one of %s", v, strings.Join(f.enum, ", "))
	}
	if f.rule != nil {
		return f.rule(v)
	}
	return ""
}
