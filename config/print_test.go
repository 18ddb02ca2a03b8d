package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func printed(t *testing.T, c *Config) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Print(&buf); err != nil {
		t.Fatalf("Print: %v", err)
	}
	return buf.String()
}

// TestPrintHasEveryKey: `presenced config` must show the whole contract.
func TestPrintHasEveryKey(t *testing.T) {
	out := printed(t, mustLoad(t, nil, okEnv))
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("Print output is not YAML: %v\n%s", err, out)
	}
	got := leafKeys(m, "")
	var want []string
	for _, f := range fields {
		want = append(want, f.key)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("printed keys\n%q\nwant\n%q", got, want)
	}
	for _, line := range []string{"heartbeat_interval: 25s", "coalesce_window: 50ms", "drain_timeout: 10s", "allowed_origins: []"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

// leafKeys lists the dotted keys of the values in a decoded YAML mapping.
func leafKeys(m map[string]any, prefix string) []string {
	var keys []string
	for name, v := range m {
		if sub, ok := v.(map[string]any); ok {
			keys = append(keys, leafKeys(sub, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

func TestPrintMasksSecrets(t *testing.T) {
	tests := []struct {
		name     string
		secret   string
		url      string
		want     []string
		mustLack []string
	}{
		{"secret set", "hunter2", "", []string{`secret: "***"`}, []string{"hunter2"}},
		{"secret unset", "", "", []string{`secret: ""`}, []string{"***"}},
		{"password in user info", "s", "postgres://app:pa55@db:5432/presenced?sslmode=disable",
			[]string{"url: postgres://app:***@db:5432/presenced?sslmode=disable"}, []string{"pa55"}},
		{"password in query", "s", "postgres://app@db/presenced?password=pa55&sslmode=require",
			[]string{"url: postgres://app@db/presenced?password=***&sslmode=require"}, []string{"pa55"}},
		{"no password", "s", "postgres://app@db/presenced", []string{"url: postgres://app@db/presenced"}, []string{"***@"}},
		{"unparsable url hidden whole", "s", "postgres://app:pa55@db:port/x", []string{`url: "***"`}, []string{"pa55"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Auth.JWT.Secret = tt.secret
			c.Store.Postgres.URL = tt.url
			out := printed(t, c)
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.mustLack {
				if strings.Contains(out, s) {
					t.Errorf("output contains %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestPrintRoundTrip: the printed YAML is a config file that loads back to
// the same Config once the masked secrets are given again.
func TestPrintRoundTrip(t *testing.T) {
	const secret, pgURL = "round-trip-secret", "postgres://app:pa55@db:5432/presenced"
	original := mustLoad(t, []string{
		"--listen", "[::1]:9000",
		"--set", "auth.allowed_origins=https://a.example,https://b.example",
		"--set", "auth.jwt.issuer=123", // a string that looks like a number
		"--set", "auth.jwt.audience=true", // and one that looks like a bool
		"--set", "presence.coalesce_window=250ms",
		"--set", "limits.rate_per_second=2.5",
		"--set", "store.driver=postgres", "--set", "store.postgres.url=" + pgURL,
		"--set", "cluster.enabled=true", "--set", "cluster.seeds=10.0.0.1:6330,[fd00::2]:6330",
		"--set", "cluster.port=7000", "--set", "cluster.advertised_address=node-1:7000",
		"--set", "metrics.enabled=false", "--set", "log.format=json",
	}, []string{"PRESENCED_AUTH__JWT__SECRET=" + secret})

	path := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(path, []byte(printed(t, original)), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := mustLoad(t, []string{"--config", path,
		"--set", "auth.jwt.secret=" + secret, "--set", "store.postgres.url=" + pgURL}, nil)
	if !reflect.DeepEqual(reloaded, original) {
		t.Errorf("round trip changed the config:\ngot  %+v\nwant %+v", reloaded, original)
	}

	// Without restoring, the masks are what was loaded, proving the secrets
	// never reached the file.
	masked := mustLoad(t, []string{"--config", path}, nil)
	if masked.Auth.JWT.Secret != "***" || strings.Contains(masked.Store.Postgres.URL, "pa55") {
		t.Errorf("printed file carried a secret: %q, %q", masked.Auth.JWT.Secret, masked.Store.Postgres.URL)
	}
}
