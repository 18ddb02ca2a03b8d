package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// okEnv is the smallest environment that passes validation with the
// defaults: jwt auth needs a key.
var okEnv = []string{"PRESENCED_AUTH__JWT__SECRET=test-secret"}

func writeFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presenced.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t testing.TB, args, environ []string) *Config {
	t.Helper()
	c, err := Load(args, environ)
	if err != nil {
		t.Fatalf("Load(%q, %q): %v", args, environ, err)
	}
	return c
}

// TestDefaults spells out CONFIG.md's table, so a changed default fails here
// and not in a client built against the contract.
func TestDefaults(t *testing.T) {
	want := &Config{
		Listen: "127.0.0.1:8080",
		Log:    Log{Level: "info", Format: "text"},
		Auth:   Auth{Mode: "jwt", AllowedOrigins: []string{}},
		Presence: Presence{
			HeartbeatInterval: 25 * time.Second, HeartbeatTimeout: 30 * time.Second,
			OfflineGrace: 2 * time.Second, CoalesceWindow: 50 * time.Millisecond,
			Visibility: "contacts", MaxSubscriptions: 1000,
		},
		Limits: Limits{
			MaxFrameBytes: 65536, MaxMessageBytes: 4096, RatePerSecond: 50, RateBurst: 100,
			SendQueue: 256, MaxConnectionsPerUser: 10,
		},
		Store: Store{Driver: "sqlite", SQLite: SQLite{Path: "./data/presenced.db"}},
		Cluster: Cluster{
			Name: "presenced", Provider: "automanaged", AutomanagedPort: 6330,
			Seeds: []string{}, Etcd: Etcd{Endpoints: []string{}}, Host: "127.0.0.1",
		},
		Metrics:  Metrics{Enabled: true},
		Shutdown: Shutdown{DrainTimeout: 10 * time.Second},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	loaded := mustLoad(t, nil, okEnv)
	want.Auth.JWT.Secret = "test-secret"
	if !reflect.DeepEqual(loaded, want) {
		t.Errorf("Load with only a secret =\n%+v\nwant the defaults\n%+v", loaded, want)
	}
}

// TestLayerOrder sets each key in several layers; the highest layer that
// sets a key must win: file < environment < --set/--listen.
func TestLayerOrder(t *testing.T) {
	path := writeFile(t, `
listen: 127.0.0.1:1000
log: {level: debug, format: json}
presence:
  heartbeat_interval: 10s
  heartbeat_timeout: 40s
  offline_grace: 5s
limits:
  rate_burst: 7
auth:
  jwt:
    secret: from-file
`)
	environ := []string{
		"PRESENCED_LOG__FORMAT=text",
		"PRESENCED_PRESENCE__HEARTBEAT_TIMEOUT=50s",
		"PRESENCED_PRESENCE__OFFLINE_GRACE=6s",
		"PRESENCED_LISTEN=127.0.0.1:2000",
		"OTHER_APP_LOG__LEVEL=error", // no prefix: not ours
	}
	args := []string{"--config", path, "--set", "presence.offline_grace=7s", "--listen", "127.0.0.1:3000"}
	c := mustLoad(t, args, environ)

	tests := []struct {
		key       string
		got, want any
	}{
		{"log.level (file over default)", c.Log.Level, "debug"},
		{"limits.rate_burst (file over default)", c.Limits.RateBurst, 7},
		{"auth.jwt.secret (file)", c.Auth.JWT.Secret, "from-file"},
		{"presence.heartbeat_interval (file)", c.Presence.HeartbeatInterval, 10 * time.Second},
		{"log.format (env over file)", c.Log.Format, "text"},
		{"presence.heartbeat_timeout (env over file)", c.Presence.HeartbeatTimeout, 50 * time.Second},
		{"presence.offline_grace (--set over env)", c.Presence.OfflineGrace, 7 * time.Second},
		{"listen (--listen over env)", c.Listen, "127.0.0.1:3000"},
		{"presence.coalesce_window (default)", c.Presence.CoalesceWindow, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.key, tt.got, tt.want)
		}
	}
}

func TestConfigFileSources(t *testing.T) {
	fromEnv := writeFile(t, "log: {level: warn}\n")
	fromFlag := writeFile(t, "log: {level: error}\n")
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"PRESENCED_CONFIG", nil, []string{"PRESENCED_CONFIG=" + fromEnv}, "warn"},
		{"--config wins over PRESENCED_CONFIG", []string{"--config", fromFlag}, []string{"PRESENCED_CONFIG=" + fromEnv}, "error"},
		{"--config=FILE", []string{"--config=" + fromFlag}, nil, "error"},
		{"single dash", []string{"-config", fromFlag}, nil, "error"},
		{"empty PRESENCED_CONFIG is no file", nil, []string{"PRESENCED_CONFIG="}, "info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.args, append(tt.environ, okEnv...))
			if c.Log.Level != tt.want {
				t.Errorf("log.level = %q, want %q", c.Log.Level, tt.want)
			}
		})
	}
}

// TestEnvNesting checks that "__" separates levels while single underscores
// stay inside key names.
func TestEnvNesting(t *testing.T) {
	c := mustLoad(t, nil, []string{
		"PRESENCED_PRESENCE__HEARTBEAT_TIMEOUT=45s",
		"PRESENCED_STORE__DRIVER=postgres",
		"PRESENCED_STORE__POSTGRES__URL=postgres://db/presenced",
		"PRESENCED_AUTH__JWT__PUBLIC_KEY_FILE=/etc/presenced/jwt.pem",
		"PRESENCED_LIMITS__MAX_FRAME_BYTES=131072",
		"PRESENCED_LIMITS__RATE_PER_SECOND=12.5",
		"PRESENCED_CLUSTER__ENABLED=true",
		"PRESENCED_METRICS__ENABLED=false",
		// Reserved for the test suite: ignored, not an unknown key.
		"PRESENCED_TEST_POSTGRES_URL=postgres://elsewhere/test",
	})
	tests := []struct {
		key       string
		got, want any
	}{
		{"presence.heartbeat_timeout", c.Presence.HeartbeatTimeout, 45 * time.Second},
		{"store.driver", c.Store.Driver, "postgres"},
		{"store.postgres.url", c.Store.Postgres.URL, "postgres://db/presenced"},
		{"auth.jwt.public_key_file", c.Auth.JWT.PublicKeyFile, "/etc/presenced/jwt.pem"},
		{"limits.max_frame_bytes", c.Limits.MaxFrameBytes, int64(131072)},
		{"limits.rate_per_second", c.Limits.RatePerSecond, 12.5},
		{"cluster.enabled", c.Cluster.Enabled, true},
		{"metrics.enabled", c.Metrics.Enabled, false},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.key, tt.got, tt.want)
		}
	}
}

func TestLists(t *testing.T) {
	file := writeFile(t, "auth:\n  allowed_origins: [\"https://a.example\", \"https://b.example\"]\n")
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    []string
	}{
		{"default", nil, nil, []string{}},
		{"yaml list", []string{"--config", file}, nil, []string{"https://a.example", "https://b.example"}},
		{"env comma-separated", nil, []string{"PRESENCED_AUTH__ALLOWED_ORIGINS=https://x.example, https://y.example"},
			[]string{"https://x.example", "https://y.example"}},
		{"--set comma-separated", []string{"--set", "auth.allowed_origins=https://z.example,"}, nil, []string{"https://z.example"}},
		{"--set empty clears the file's list", []string{"--config", file, "--set=auth.allowed_origins="}, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.args, append(tt.environ, okEnv...))
			if !reflect.DeepEqual(c.Auth.AllowedOrigins, tt.want) {
				t.Errorf("auth.allowed_origins = %q, want %q", c.Auth.AllowedOrigins, tt.want)
			}
		})
	}

	c := mustLoad(t, []string{
		"--set", "store.driver=postgres", "--set", "store.postgres.url=postgres://db/p",
		"--set", "cluster.enabled=true", "--set", "cluster.seeds=10.0.0.1:6330,10.0.0.2:6330",
		"--set", "cluster.provider=etcd",
	}, append([]string{"PRESENCED_CLUSTER__ETCD__ENDPOINTS=http://etcd-1:2379,http://etcd-2:2379"}, okEnv...))
	if want := []string{"10.0.0.1:6330", "10.0.0.2:6330"}; !reflect.DeepEqual(c.Cluster.Seeds, want) {
		t.Errorf("cluster.seeds = %q, want %q", c.Cluster.Seeds, want)
	}
	if want := []string{"http://etcd-1:2379", "http://etcd-2:2379"}; !reflect.DeepEqual(c.Cluster.Etcd.Endpoints, want) {
		t.Errorf("cluster.etcd.endpoints = %q, want %q", c.Cluster.Etcd.Endpoints, want)
	}
}

func TestFlagForms(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"--listen ADDR", []string{"--listen", "127.0.0.1:1"}, "127.0.0.1:1"},
		{"--listen=ADDR", []string{"--listen=127.0.0.1:2"}, "127.0.0.1:2"},
		{"--set=key=value", []string{"--set=listen=127.0.0.1:3"}, "127.0.0.1:3"},
		{"later --set wins over --listen", []string{"--listen", "127.0.0.1:4", "--set", "listen=127.0.0.1:5"}, "127.0.0.1:5"},
		{"later --listen wins over --set", []string{"--set", "listen=127.0.0.1:5", "-listen", "[::1]:6"}, "[::1]:6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := mustLoad(t, tt.args, okEnv); c.Listen != tt.want {
				t.Errorf("listen = %q, want %q", c.Listen, tt.want)
			}
		})
	}
	if _, err := Load([]string{"--help"}, nil); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: got %v, want ErrHelp", err)
	}
}
