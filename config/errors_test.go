package config

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// TestErrors covers every class of error: each case must fail with a
// *Error naming wantKey, in one line that contains wantText.
func TestErrors(t *testing.T) {
	pg := []string{"--set", "store.driver=postgres", "--set", "store.postgres.url=postgres://db/p"}
	tests := []struct {
		name     string
		yaml     string // written to a file passed with --config, when set
		args     []string
		environ  []string
		wantKey  string
		wantText string
	}{
		// Unknown keys, from each layer.
		{name: "unknown key in yaml", yaml: "presence:\n  heartbeat_timout: 30s\n",
			wantKey: "presence.heartbeat_timout", wantText: "did you mean presence.heartbeat_timeout?"},
		{name: "unknown key in env", environ: []string{"PRESENCED_PRESENCE__HEARTBEAT_TIMOUT=30s"},
			wantKey: "presence.heartbeat_timout", wantText: "from PRESENCED_PRESENCE__HEARTBEAT_TIMOUT"},
		{name: "single underscore does not nest", environ: []string{"PRESENCED_STORE_DRIVER=postgres"},
			wantKey: "store_driver", wantText: "unknown key"},
		{name: "unknown key in --set", args: []string{"--set", "nope=1"}, wantKey: "nope", wantText: "unknown key (from --set)"},
		{name: "section given a value", args: []string{"--set", "auth=x"}, wantKey: "auth", wantText: "is a section"},
		{name: "unknown top-level yaml section", yaml: "tls:\n  cert: x\n", wantKey: "tls.cert", wantText: "unknown key"},

		// Wrong types.
		{name: "duration banana in yaml", yaml: "presence:\n  heartbeat_timeout: banana\n",
			wantKey: "presence.heartbeat_timeout", wantText: `"banana" is not a duration (like 30s)`},
		{name: "duration without unit in yaml", yaml: "presence:\n  heartbeat_timeout: 30\n",
			wantKey: "presence.heartbeat_timeout", wantText: "30 is not a duration"},
		{name: "duration banana in env", environ: []string{"PRESENCED_PRESENCE__HEARTBEAT_TIMEOUT=banana"},
			wantKey: "presence.heartbeat_timeout", wantText: `"banana" is not a duration`},
		{name: "int given a word in yaml", yaml: "limits:\n  rate_burst: \"x\"\n",
			wantKey: "limits.rate_burst", wantText: `"x" is not a whole number`},
		{name: "int given a quoted number in yaml", yaml: "limits:\n  rate_burst: \"5\"\n",
			wantKey: "limits.rate_burst", wantText: "without quotes"},
		{name: "int given a fraction in yaml", yaml: "limits:\n  send_queue: 1.5\n",
			wantKey: "limits.send_queue", wantText: "1.5 is not a whole number"},
		{name: "int given a word in --set", args: []string{"--set", "limits.max_frame_bytes=lots"},
			wantKey: "limits.max_frame_bytes", wantText: `"lots" is not a whole number`},
		{name: "float given a word in env", environ: []string{"PRESENCED_LIMITS__RATE_PER_SECOND=fast"},
			wantKey: "limits.rate_per_second", wantText: "is not a number"},
		{name: "bool given a word", args: []string{"--set", "metrics.enabled=sometimes"},
			wantKey: "metrics.enabled", wantText: "is not true or false"},
		{name: "bool given a string in yaml", yaml: "cluster:\n  enabled: \"true\"\n",
			wantKey: "cluster.enabled", wantText: "is not true or false"},
		{name: "list given a string in yaml", yaml: "cluster:\n  seeds: a:1\n",
			wantKey: "cluster.seeds", wantText: "is not a list"},
		{name: "list item not a string", yaml: "auth:\n  allowed_origins: [1]\n",
			wantKey: "auth.allowed_origins", wantText: "item 1, 1, is not a string"},
		{name: "string given a list", yaml: "listen: [a]\n", wantKey: "listen", wantText: "a list is not a string"},
		{name: "string given a number", yaml: "auth:\n  jwt:\n    secret: 12345\n",
			wantKey: "auth.jwt.secret", wantText: "put it in quotes"},

		// Values out of range.
		{name: "negative duration", args: []string{"--set", "presence.heartbeat_interval=-1s"},
			wantKey: "presence.heartbeat_interval", wantText: "-1s must be greater than zero"},
		{name: "zero rate burst", yaml: "limits:\n  rate_burst: 0\n", wantKey: "limits.rate_burst", wantText: "greater than zero"},
		{name: "zero send queue", args: []string{"--set", "limits.send_queue=0"}, wantKey: "limits.send_queue", wantText: "greater than zero"},
		{name: "negative offline grace", args: []string{"--set", "presence.offline_grace=-2s"},
			wantKey: "presence.offline_grace", wantText: "must not be negative"},
		{name: "zero drain timeout", args: []string{"--set", "shutdown.drain_timeout=0s"}, wantKey: "shutdown.drain_timeout", wantText: "greater than zero"},
		{name: "port out of range", args: []string{"--set", "cluster.port=70000"}, wantKey: "cluster.port", wantText: "is not a port"},
		{name: "int overflow", args: []string{"--set", "limits.max_frame_bytes=99999999999999999999"},
			wantKey: "limits.max_frame_bytes", wantText: "too large"},
		{name: "empty list item in yaml", yaml: "cluster:\n  etcd:\n    endpoints: [\"\"]\n",
			wantKey: "cluster.etcd.endpoints", wantText: "item 1 is empty"},
		{name: "seed not host:port", args: []string{"--set", "cluster.seeds=node-1"}, wantKey: "cluster.seeds", wantText: "is not host:port"},

		// Values outside their set.
		{name: "log.level", args: []string{"--set", "log.level=verbose"}, wantKey: "log.level", wantText: `"verbose" is not one of debug, info, warn, error`},
		{name: "log.format", yaml: "log:\n  format: xml\n", wantKey: "log.format", wantText: "is not one of text, json"},
		{name: "auth.mode", environ: []string{"PRESENCED_AUTH__MODE=none"}, wantKey: "auth.mode", wantText: "is not one of jwt, dev"},
		{name: "presence.visibility", args: []string{"--set", "presence.visibility=friends"}, wantKey: "presence.visibility", wantText: "is not one of contacts, all"},
		{name: "store.driver", args: []string{"--set", "store.driver=mysql"}, wantKey: "store.driver", wantText: "is not one of sqlite, postgres"},
		{name: "cluster.provider", args: []string{"--set", "cluster.provider=zookeeper"}, wantKey: "cluster.provider", wantText: "automanaged, etcd, consul, k8s"},
		{name: "enum is case-sensitive", args: []string{"--set", "log.level=INFO"}, wantKey: "log.level", wantText: "is not one of"},
		{name: "bad value in a lower layer still fails", yaml: "log:\n  level: loud\n", args: []string{"--set", "log.level=info"},
			wantKey: "log.level", wantText: `"loud"`},

		// Contradictions.
		{name: "cluster with sqlite", args: []string{"--set", "cluster.enabled=true"}, wantKey: "cluster.enabled", wantText: "store.driver: postgres"},
		{name: "postgres without url", args: []string{"--set", "store.driver=postgres"}, wantKey: "store.postgres.url", wantText: "is not set"},
		{name: "postgres url of another scheme", args: []string{"--set", "store.postgres.url=mysql://u:pw@db/x"},
			wantKey: "store.postgres.url", wantText: "is not a postgres://"},
		{name: "empty sqlite path", args: []string{"--set", "store.sqlite.path="}, wantKey: "store.sqlite.path", wantText: "is empty"},
		{name: "dev on all interfaces", args: []string{"--set", "auth.mode=dev", "--listen", ":8080"}, wantKey: "auth.mode", wantText: "loopback"},
		{name: "dev on a public address", args: []string{"--set", "auth.mode=dev", "--listen", "0.0.0.0:8080"}, wantKey: "auth.mode", wantText: `"0.0.0.0:8080"`},
		{name: "dev on a host name", args: []string{"--set", "auth.mode=dev", "--listen", "example.com:8080"}, wantKey: "auth.mode", wantText: "loopback"},
		{name: "jwt without a key", args: []string{"--set", "auth.jwt.secret="}, wantKey: "auth.jwt.secret", wantText: "auth.jwt.public_key_file"},
		{name: "timeout shorter than interval", environ: []string{"PRESENCED_PRESENCE__HEARTBEAT_INTERVAL=40s"},
			wantKey: "presence.heartbeat_timeout", wantText: "30s is shorter than presence.heartbeat_interval (40s)"},
		{name: "message larger than frame", args: []string{"--set", "limits.max_frame_bytes=1024"},
			wantKey: "limits.max_message_bytes", wantText: "larger than limits.max_frame_bytes (1024)"},
		{name: "listen without port", args: []string{"--listen", "localhost"}, wantKey: "listen", wantText: "is not host:port"},
		{name: "listen with named port", args: []string{"--listen", "localhost:http"}, wantKey: "listen", wantText: "port number"},
		{name: "etcd without endpoints", args: append([]string{"--set", "cluster.enabled=true", "--set", "cluster.provider=etcd"}, pg...),
			wantKey: "cluster.etcd.endpoints", wantText: "at least one endpoint"},
		{name: "cluster without a name", args: append([]string{"--set", "cluster.enabled=true", "--set", "cluster.name="}, pg...),
			wantKey: "cluster.name", wantText: "is empty"},
		{name: "remoting port equals automanaged port", args: append([]string{"--set", "cluster.enabled=true", "--set", "cluster.port=6330"}, pg...),
			wantKey: "cluster.automanaged_port", wantText: "also the port of cluster.port"},
		{name: "advertised address not host:port", args: []string{"--set", "cluster.advertised_address=node-1"},
			wantKey: "cluster.advertised_address", wantText: "is not host:port"},

		// The command line.
		{name: "unknown flag", args: []string{"--port", "80"}, wantKey: "--port", wantText: "unknown flag"},
		{name: "positional argument", args: []string{"serve"}, wantKey: "serve", wantText: "unexpected argument"},
		{name: "--set without =", args: []string{"--set", "listen"}, wantKey: "--set", wantText: `"listen" is not key=value`},
		{name: "--set without a value", args: []string{"--set"}, wantKey: "--set", wantText: "needs a value"},
		{name: "--config empty", args: []string{"--config="}, wantKey: "--config", wantText: "needs a file name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"--config", writeFile(t, tt.yaml)}, args...)
			}
			environ := append(slices.Clone(okEnv), tt.environ...)
			assertError(t, args, environ, tt.wantKey, tt.wantText)
		})
	}
}

func assertError(t *testing.T, args, environ []string, wantKey, wantText string) {
	t.Helper()
	c, err := Load(args, environ)
	if err == nil {
		t.Fatalf("Load succeeded with %+v; want an error about %s", c, wantKey)
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	if cerr.Key != wantKey {
		t.Errorf("Key = %q, want %q (error: %v)", cerr.Key, wantKey, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "config: "+wantKey+": ") {
		t.Errorf("error %q is not one line starting with %q", msg, "config: "+wantKey+": ")
	}
	if !strings.Contains(msg, wantText) {
		t.Errorf("error %q does not contain %q", msg, wantText)
	}
}

func TestFileErrors(t *testing.T) {
	missing := t.TempDir() + "/missing.yaml"
	dir := t.TempDir()
	badYAML := writeFile(t, "presence:\n  heartbeat_timeout: [\n")
	dupYAML := writeFile(t, "listen: a:1\nlisten: b:2\n")
	notMap := writeFile(t, "- listen\n")
	tests := []struct {
		name     string
		args     []string
		environ  []string
		wantKey  string
		wantText string
	}{
		{"missing file from --config", []string{"--config", missing}, nil, missing, "given by --config: no such file"},
		{"missing file from PRESENCED_CONFIG", nil, []string{"PRESENCED_CONFIG=" + missing}, missing, "given by PRESENCED_CONFIG"},
		{"directory", []string{"--config", dir}, nil, dir, "is a directory"},
		{"yaml that does not parse", []string{"--config", badYAML}, nil, badYAML, "is not a valid YAML configuration"},
		{"duplicate keys (multi-line yaml error)", []string{"--config", dupYAML}, nil, dupYAML, `mapping key "listen" already defined`},
		{"yaml list at top level", []string{"--config", notMap}, nil, notMap, "is not a valid YAML configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertError(t, tt.args, append(tt.environ, okEnv...), tt.wantKey, tt.wantText)
		})
	}
	_, err := Load([]string{"--config", missing}, okEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap fs.ErrNotExist", err)
	}
}

// TestAccepted are edge cases that must load: each documents a decision.
func TestAccepted(t *testing.T) {
	pg := []string{"--set", "store.driver=postgres", "--set", "store.postgres.url=postgres://db/p"}
	tests := []struct {
		name string
		yaml string
		args []string
	}{
		{"dev on 127.0.0.1", "", []string{"--set", "auth.mode=dev"}},
		{"dev on localhost", "", []string{"--set", "auth.mode=dev", "--listen", "localhost:8080"}},
		{"dev on ::1", "", []string{"--set", "auth.mode=dev", "--listen", "[::1]:8080"}},
		{"dev on 127.0.0.2", "", []string{"--set", "auth.mode=dev", "--listen", "127.0.0.2:0"}},
		{"timeout equal to interval", "presence: {heartbeat_interval: 30s, heartbeat_timeout: 30s}\n", nil},
		{"zero grace and window", "presence: {offline_grace: 0, coalesce_window: 0s}\n", nil},
		{"automanaged cluster with no seeds", "", append([]string{"--set", "cluster.enabled=true"}, pg...)},
		{"etcd provider while the cluster is off", "cluster: {provider: etcd}\n", nil},
		{"empty sections", "auth:\nstore: {}\n", nil},
		{"empty file", "", []string{"--config", writeFile(t, "")}},
		{"float rate from a yaml int", "limits: {rate_per_second: 20}\n", nil},
		{"postgresql:// scheme", "", []string{"--set", "store.postgres.url=postgresql://u:pw@db/p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"--config", writeFile(t, tt.yaml)}, args...)
			}
			mustLoad(t, args, okEnv)
		})
	}
}
