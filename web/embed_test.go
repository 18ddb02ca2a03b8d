package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/presenced/presenced/web"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesEachFileWithItsTypeAndAStrictPolicy(t *testing.T) {
	h := web.Handler()
	for path, want := range map[string]string{
		"/":                        "text/html; charset=utf-8",
		"/ui/app.js":               "text/javascript; charset=utf-8",
		"/ui/presence-client.js":   "text/javascript; charset=utf-8",
		"/ui/presence-client.d.ts": "application/typescript; charset=utf-8",
		"/ui/style.css":            "text/css; charset=utf-8",
		"/ui/icon.svg":             "image/svg+xml",
	} {
		resp := get(t, h, path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if !strings.Contains(csp, "connect-src 'self' ws://example.com wss://example.com;") {
			t.Errorf("GET %s: Content-Security-Policy %q does not name this host's WebSocket", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
}

func TestPolicyNamesOnlyAPlainHost(t *testing.T) {
	h := web.Handler()
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "evil.example; script-src *"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") {
		t.Fatalf("a strange Host reached the policy: %q", csp)
	}
	req.Host = "[::1]:8080"
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "ws://[::1]:8080 ") {
		t.Fatalf("an IPv6 host is missing from the policy: %q", csp)
	}
}

func TestClientModuleMayBeImportedFromAnywhere(t *testing.T) {
	h := web.Handler()
	if got := get(t, h, "/ui/presence-client.js").Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("presence-client.js: Access-Control-Allow-Origin %q", got)
	}
	if got := get(t, h, "/ui/app.js").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("app.js: Access-Control-Allow-Origin %q, want none", got)
	}
}

func TestHandlerRefusesEverythingElse(t *testing.T) {
	h := web.Handler()
	for _, path := range []string{"/ui/", "/ui/missing.js", "/ui/../embed.go", "/embed.go", "/ui/embed.go", "/index.html/x"} {
		if resp := get(t, h, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestUnchangedFileIsNotSentAgain(t *testing.T) {
	h := web.Handler()
	etag := get(t, h, "/ui/app.js").Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if resp := get(t, h, "/ui/app.js", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation answered %d, want 304", resp.StatusCode)
	}
}

// The policy forbids inline scripts and styles, so the page must have none:
// a browser would silently ignore them.
func TestPageHasNoInlineScriptOrStyle(t *testing.T) {
	resp := get(t, web.Handler(), "/")
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`\son[a-z]+\s*=`),                // onclick= and friends
		regexp.MustCompile(`\sstyle\s*=`),
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`javascript:`),
	} {
		if m := re.FindString(page); m != "" {
			t.Errorf("index.html has %q, which the Content-Security-Policy blocks", m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="/ui/`) {
			t.Errorf("index.html has %s: scripts must come from /ui/", tag)
		}
	}
}
