// Package web owns presenced's browser side: presence-client.js, the
// framework-free ES module that speaks the WebSocket protocol of
// docs/protocol.md (with its types in presence-client.d.ts), and the
// dashboard built on it alone (index.html, app.js, style.css). The files
// are embedded in the binary; Handler serves them at / and /ui/ for
// transport.Options.UI.
//
// Nothing here holds state: every request is answered from the embedded
// files, so Handler is safe for concurrent use.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed index.html app.js style.css icon.svg presence-client.js presence-client.d.ts
var files embed.FS

// policy allows only this origin's own scripts, styles, images and
// connections: no inline script or style, no framing, no plugins. The
// WebSocket URLs of this host are named too, for browsers whose 'self' does
// not cover ws: and wss:.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'%s; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// plainHost is a Host header safe to repeat in the policy.
var plainHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

func contentSecurityPolicy(host string) string {
	ws := ""
	if plainHost.MatchString(host) {
		ws = " ws://" + host + " wss://" + host
	}
	return fmt.Sprintf(policy, ws)
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".ts":   "application/typescript; charset=utf-8",
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the dashboard: GET / is index.html, GET /ui/NAME one of the
// embedded files. Anything else is a 404.
func Handler() http.Handler {
	assets := make(map[string]asset)
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	for _, e := range entries {
		body, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		assets[e.Name()] = asset{
			body:        body,
			contentType: contentTypes[path.Ext(e.Name())],
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/ui/")
		switch {
		case r.URL.Path == "/":
			name = "index.html"
		case !ok:
			http.NotFound(w, r)
			return
		}
		a, found := assets[name]
		if !found || a.contentType == "" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Security-Policy", contentSecurityPolicy(r.Host))
		if strings.HasPrefix(name, "presence-client.") {
			// Other origins may import the client module (modules load
			// with CORS); it is public and sent without credentials.
			h.Set("Access-Control-Allow-Origin", "*")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidate every time: a new binary may bring new files, and the
		// ETag makes an unchanged file cost a 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
