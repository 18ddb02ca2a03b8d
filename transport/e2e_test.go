package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/clocktest"
	"github.com/presenced/presenced/internal/wstest"
	"github.com/presenced/presenced/persistence"
	"github.com/presenced/presenced/transport"
)

// server is a real presenced HTTP handler on a real SQLite store, with the
// actors on a fake clock so tests move time instead of waiting for it.
type server struct {
	t     testing.TB
	http  *httptest.Server
	clock *clocktest.Clock
	e     *actors.Engine
	reg   *prometheus.Registry
}

type config struct {
	engine    actors.Options
	transport transport.Options
}

func start(t testing.TB, tweak ...func(*config)) *server {
	t.Helper()
	store, err := persistence.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	clock := clocktest.New(time.Now())
	reg := prometheus.NewRegistry()
	cfg := config{
		engine:    actors.Options{Store: store, Clock: clock, Registerer: reg},
		transport: transport.Options{Auth: transport.AuthOptions{Mode: transport.AuthDev}, MetricsEnabled: true, Gatherer: reg, Registerer: reg},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	e, err := actors.New(cfg.engine)
	if err != nil {
		t.Fatal(err)
	}
	hs := wstest.Serve(t, e, cfg.transport, store)
	return &server{t: t, http: hs, clock: clock, e: e, reg: reg}
}

// dial connects user in dev mode and returns the client after its
// presence:connected frame.
func (s *server) dial(user, role string) (*wstest.Client, connectedData) {
	s.t.Helper()
	c := wstest.Dial(s.t, wstest.WSURL(s.http.URL, "user="+user+"&role="+role), nil)
	var d connectedData
	c.Expect("presence:connected").Decode(s.t, &d)
	return c, d
}

type presence struct {
	UserID     string `json:"userId"`
	Role       string `json:"role"`
	Status     string `json:"status"`
	LastActive *int64 `json:"lastActive"`
	LastSeen   *int64 `json:"lastSeen"`
}

type connectedData struct {
	You                 map[string]string `json:"you"`
	Users               []presence        `json:"users"`
	HeartbeatIntervalMs int64             `json:"heartbeatIntervalMs"`
}

// update waits for the next presence:update and returns user → status.
func update(t *testing.T, c *wstest.Client) map[string]presence {
	t.Helper()
	var d struct{ Users []presence }
	c.Expect("presence:update").Decode(t, &d)
	out := make(map[string]presence)
	for _, p := range d.Users {
		out[p.UserID] = p
	}
	return out
}

func (s *server) api(method, path, query, body string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.http.URL+path+"?"+query, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("%s %s answered non-JSON %q", method, path, raw)
	}
	return resp.StatusCode, out
}

func (s *server) converse(a, b string) string {
	s.t.Helper()
	status, out := s.api("POST", "/v1/conversations", "user="+a+"&role=CLIENT", `{"memberIds":["`+a+`","`+b+`"]}`)
	if status != 200 {
		s.t.Fatalf("creating conversation: %d %v", status, out)
	}
	return out["conversationId"].(string)
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestPresenceOverRealWebSockets(t *testing.T) {
	s := start(t)
	s.converse("alice", "bob")
	s.converse("alice", "carol")
	bob, _ := s.dial("bob", "FREELANCER")
	carol, _ := s.dial("carol", "CLIENT")

	alice, snap := s.dial("alice", "CLIENT")
	if snap.You["userId"] != "alice" || snap.HeartbeatIntervalMs != 25000 || len(snap.Users) != 2 {
		t.Fatalf("alice's snapshot %+v", snap)
	}
	if got := update(t, bob)["alice"]; got.Status != "active" || got.Role != "CLIENT" {
		t.Fatalf("bob sees %+v", got)
	}
	update(t, carol)

	s.clock.Advance(time.Second)
	alice.Send("chat:focus", "", map[string]string{"partnerId": "bob"})
	if got := update(t, bob)["alice"].Status; got != "online" {
		t.Fatalf("bob sees alice %s, want online", got)
	}
	carol.Quiet(100 * time.Millisecond) // carol never learns whom alice chats with

	s.clock.Advance(time.Second)
	alice.Send("chat:blur", "", map[string]string{})
	if got := update(t, bob)["alice"].Status; got != "active" {
		t.Fatalf("bob sees alice %s, want active", got)
	}
}

func TestReloadDoesNotFlickerAndLeavingGoesOfflineAfterGrace(t *testing.T) {
	s := start(t)
	s.converse("alice", "bob")
	bob, _ := s.dial("bob", "CLIENT")
	alice, _ := s.dial("alice", "CLIENT")
	update(t, bob)

	// Reload: the old socket goes, a new one comes within the grace.
	_ = alice.WS.Close()
	s.waitConnections(1)
	s.clock.Advance(time.Second)
	s.dial("alice", "CLIENT")
	s.clock.Advance(5 * time.Second)
	bob.Quiet(150 * time.Millisecond)

	// Two tabs, one closes: nothing changes for bob.
	tab2, _ := s.dial("alice", "CLIENT")
	_ = tab2.WS.Close()
	s.waitConnections(2)
	s.clock.Advance(5 * time.Second)
	bob.Quiet(150 * time.Millisecond)
}

func TestSilentConnectionIsClosedAtTheHeartbeatTimeout(t *testing.T) {
	s := start(t)
	s.converse("alice", "bob")
	bob, _ := s.dial("bob", "CLIENT")
	alice, _ := s.dial("alice", "CLIENT")
	update(t, bob)

	bob.Heartbeat()
	s.clock.Advance(29 * time.Second)
	bob.Heartbeat() // bob stays alive, alice stays silent
	s.clock.Advance(time.Second)
	if code := alice.Closed(); code != websocket.CloseNormalClosure {
		t.Fatalf("silent connection closed with %d", code)
	}
	s.waitConnections(1)
	s.clock.Advance(2 * time.Second)
	got := update(t, bob)["alice"]
	if got.Status != "offline" || got.LastSeen == nil {
		t.Fatalf("bob sees %+v, want offline with lastSeen", got)
	}
}

func TestHeartbeatIsAcknowledgedWithServerTime(t *testing.T) {
	s := start(t)
	c, _ := s.dial("alice", "CLIENT")
	before := time.Now().UnixMilli()
	c.Send("heartbeat", "h1", map[string]any{})
	f := c.Expect("heartbeat:ack")
	var d struct{ ServerTime int64 }
	f.Decode(t, &d)
	if f.Ref != "h1" || d.ServerTime < before || d.ServerTime > time.Now().UnixMilli() {
		t.Fatalf("ack %s", f.Raw)
	}
}

func TestBadFramesAreAnsweredAndTheConnectionLives(t *testing.T) {
	s := start(t, func(c *config) { c.transport.MaxSubscriptions = 3 })
	c, _ := s.dial("alice", "CLIENT")
	cases := []struct {
		name, frame, code, ref string
	}{
		{"not json", `hello`, "bad_json", ""},
		{"json but not an object", `[1,2]`, "bad_json", ""},
		{"truncated", `{"type":"heartbeat"`, "bad_json", ""},
		{"missing type", `{"ref":"r1","data":{}}`, "unknown_type", "r1"},
		{"type not a string", `{"type":7,"ref":"r2"}`, "unknown_type", "r2"},
		{"unknown type", `{"type":"dance","ref":"r3"}`, "unknown_type", "r3"},
		{"data not an object", `{"type":"chat:focus","ref":"r4","data":"bob"}`, "invalid_payload", "r4"},
		{"missing field", `{"type":"chat:focus","ref":"r5","data":{}}`, "invalid_payload", "r5"},
		{"wrong field type", `{"type":"chat:focus","ref":"r6","data":{"partnerId":42}}`, "invalid_payload", "r6"},
		{"malformed id", `{"type":"chat:focus","ref":"r7","data":{"partnerId":"bob smith"}}`, "invalid_payload", "r7"},
		{"ids not a list", `{"type":"presence:subscribe","ref":"r8","data":{"userIds":"bob"}}`, "invalid_payload", "r8"},
		{"too many ids", `{"type":"presence:subscribe","ref":"r9","data":{"userIds":["a","b","c","d"]}}`, "limit_exceeded", "r9"},
		{"ref too long", `{"type":"heartbeat","ref":"` + strings.Repeat("x", 65) + `"}`, "invalid_payload", ""},
		{"ref not a string", `{"type":"heartbeat","ref":5}`, "invalid_payload", ""},
		{"invalid utf-8", "{\"type\":\"chat:focus\",\"ref\":\"r10\",\"data\":{\"partnerId\":\"b\xffb\"}}", "invalid_payload", "r10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.SendRaw([]byte(tc.frame))
			c.ExpectError(tc.code, tc.ref)
		})
	}
	c.Send("heartbeat", "still-here", nil)
	if f := c.Expect("heartbeat:ack"); f.Ref != "still-here" {
		t.Fatalf("ack %s", f.Raw)
	}
	// Unknown fields are ignored.
	c.SendRaw([]byte(`{"type":"heartbeat","ref":"x","extra":1,"data":{"also":true}}`))
	c.Expect("heartbeat:ack")
}

func TestBinaryFrameClosesWith1003(t *testing.T) {
	s := start(t)
	c, _ := s.dial("alice", "CLIENT")
	if err := c.WS.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if code := c.Closed(); code != websocket.CloseUnsupportedData {
		t.Fatalf("closed with %d, want 1003", code)
	}
}

func TestOversizedFrameClosesWith1009(t *testing.T) {
	s := start(t, func(c *config) { c.transport.MaxFrameBytes = 1024 })
	c, _ := s.dial("alice", "CLIENT")
	c.SendRaw([]byte(`{"type":"heartbeat","data":{"pad":"` + strings.Repeat("x", 2000) + `"}}`))
	if code := c.Closed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %d, want 1009", code)
	}
}

func TestRateLimitAnswersThenClosesAFlood(t *testing.T) {
	s := start(t, func(c *config) {
		c.transport.RatePerSecond = 1
		c.transport.RateBurst = 5
	})
	c, _ := s.dial("alice", "CLIENT")
	for range 5 {
		c.Send("heartbeat", "ok", nil)
		c.Expect("heartbeat:ack")
	}
	c.Send("heartbeat", "over", nil)
	c.ExpectError("rate_limited", "over")
	for range 20 {
		// The server may close mid-flood: stop writing then.
		if c.WS.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat","ref":"flood"}`)) != nil {
			break
		}
	}
	if code := c.Closed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want 1008", code)
	}
}

func TestSubscribeShowsAStrangerAndIsBounded(t *testing.T) {
	s := start(t, func(c *config) { c.engine.MaxSubscriptions = 2 })
	viewer, _ := s.dial("viewer", "CLIENT")
	s.dial("star", "FREELANCER")
	viewer.Send("presence:subscribe", "s1", map[string]any{"userIds": []string{"star", "nobody"}})
	f := viewer.Expect("presence:snapshot")
	var d struct{ Users []presence }
	f.Decode(t, &d)
	if f.Ref != "s1" || len(d.Users) != 2 || d.Users[0].Status != "active" || d.Users[1].Status != "offline" {
		t.Fatalf("snapshot %s", f.Raw)
	}
	viewer.Send("presence:subscribe", "s2", map[string]any{"userIds": []string{"third"}})
	viewer.ExpectError("limit_exceeded", "s2")
}

func TestConnectionLimitIs429(t *testing.T) {
	s := start(t, func(c *config) { c.engine.MaxConnectionsPerUser = 1 })
	s.dial("alice", "CLIENT")
	_, resp, err := wstest.TryDial(t, wstest.WSURL(s.http.URL, "user=alice&role=CLIENT"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection: err=%v resp=%v, want 429", err, resp)
	}
	assertJSONError(t, resp, "limit_exceeded")
}

// A server at its connection capacity refuses further upgrades at once, with
// a status clients act on, and still answers everything else; a connection
// that ends makes room for the next.
func TestAFullServerRefusesUpgradesAndStillServes(t *testing.T) {
	s := start(t, func(c *config) { c.transport.MaxConnections = 2 })
	s.dial("alice", "CLIENT")
	bob, _ := s.dial("bob", "CLIENT")

	_, resp, err := wstest.TryDial(t, wstest.WSURL(s.http.URL, "user=carol&role=CLIENT"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: err=%v resp=%v, want 429", err, resp)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want a number of seconds", resp.Header.Get("Retry-After"))
	}
	assertJSONError(t, resp, "limit_exceeded")
	if code, _ := s.api("GET", "/v1/presence/alice", "user=dora&role=ADMIN", ""); code != http.StatusOK {
		t.Errorf("the HTTP API answered %d while the server was full, want 200", code)
	}
	metrics := s.metricsText()
	for _, want := range []string{"presenced_connections_capacity 2", "presenced_connections_refused_total 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code, body := s.api("GET", "/readyz", "", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d %v while full, want 503: a load balancer should send new clients elsewhere", code, body)
	}

	_ = bob.WS.Close()
	deadline := time.Now().Add(wstest.Wait)
	for {
		code, _ := s.api("GET", "/readyz", "", "")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after bob left, want 200", code)
		}
		time.Sleep(time.Millisecond) // bob's end is the server's to notice
	}
	c, _ := s.dial("carol", "CLIENT")
	c.Heartbeat()
}

func (s *server) metricsText() string {
	s.t.Helper()
	resp, err := http.Get(s.http.URL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(body)
}

func TestOriginAllowList(t *testing.T) {
	s := start(t, func(c *config) { c.transport.AllowedOrigins = []string{"https://app.example"} })
	url := wstest.WSURL(s.http.URL, "user=alice&role=CLIENT")
	_, resp, err := wstest.TryDial(t, url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad origin: %v %v, want 403", err, resp)
	}
	assertJSONError(t, resp, "forbidden")
	wstest.Dial(t, url, http.Header{"Origin": {"https://app.example"}})
	wstest.Dial(t, url, http.Header{"Origin": {s.http.URL}}) // same host
	wstest.Dial(t, url, nil)                                 // not a browser
}

func TestDevAuthRejectsBadIdentities(t *testing.T) {
	s := start(t)
	for _, q := range []string{"", "user=alice", "user=alice&role=KING", "user=bad%20id&role=CLIENT",
		"user=" + strings.Repeat("a", 129) + "&role=CLIENT"} {
		_, resp, err := wstest.TryDial(t, wstest.WSURL(s.http.URL, q), nil)
		if err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%q: %v %v, want 401", q, err, resp)
		}
		assertJSONError(t, resp, "unauthorized")
	}
}

func TestJWTAuthentication(t *testing.T) {
	secret := []byte("a-long-enough-test-secret-for-hs256")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaPEM := publicPEM(t, &rsaKey.PublicKey)
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "role": "CLIENT", "exp": time.Now().Add(time.Hour).Unix(),
			"iss": "market", "aud": "presenced"}
		if mut != nil {
			mut(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := start(t, func(c *config) {
		c.transport.Auth = transport.AuthOptions{Mode: transport.AuthJWT, Secret: secret, Issuer: "market", Audience: "presenced"}
	})
	rs := start(t, func(c *config) {
		c.transport.Auth = transport.AuthOptions{Mode: transport.AuthJWT, PublicKeyPEM: rsaPEM}
	})
	es := start(t, func(c *config) {
		c.transport.Auth = transport.AuthOptions{Mode: transport.AuthJWT, PublicKeyPEM: publicPEM(t, &ecKey.PublicKey)}
	})
	noneToken := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	cases := []struct {
		name  string
		srv   *server
		token string
		ok    bool
	}{
		{"hs256", hs, sign(jwt.SigningMethodHS256, secret, claims(nil)), true},
		{"rs256", rs, sign(jwt.SigningMethodRS256, rsaKey, claims(nil)), true},
		{"es256", es, sign(jwt.SigningMethodES256, ecKey, claims(nil)), true},
		{"wrong secret", hs, sign(jwt.SigningMethodHS256, []byte("another-secret-of-enough-length"), claims(nil)), false},
		{"alg none", hs, noneToken, false},
		{"hs256 signed with the public key (alg confusion)", rs, sign(jwt.SigningMethodHS256, rsaPEM, claims(nil)), false},
		{"rs256 where only hs256 is configured", hs, sign(jwt.SigningMethodRS256, rsaKey, claims(nil)), false},
		{"expired", hs, sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), false},
		{"no exp", hs, sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"wrong issuer", hs, sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["iss"] = "other" })), false},
		{"wrong audience", hs, sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), false},
		{"bad role", hs, sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["role"] = "ROOT" })), false},
		{"bad sub", hs, sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["sub"] = "a b" })), false},
		{"garbage", hs, "not.a.token", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Header for some, query for the others: both must work alike.
			h := http.Header{"Authorization": {"Bearer " + tc.token}}
			q := ""
			if len(tc.name)%2 == 0 {
				h, q = nil, "token="+url.QueryEscape(tc.token)
			}
			c, resp, err := wstest.TryDial(t, wstest.WSURL(tc.srv.http.URL, q), h)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v %v", err, resp)
				}
				c.Expect("presence:connected")
				return
			}
			if err == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("accepted or not 401: %v %v", err, resp)
			}
			assertJSONError(t, resp, "unauthorized")
		})
	}
	// The API authenticates the same way.
	status, body := hs.api("GET", "/v1/conversations", "token="+url.QueryEscape(noneToken), "")
	if status != 401 || errorCode(body) != "unauthorized" {
		t.Fatalf("API with alg none: %d %v", status, body)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	s := start(t)
	if status, _ := s.api("GET", "/healthz", "", ""); status != 200 {
		t.Fatalf("healthz %d", status)
	}
	if status, _ := s.api("GET", "/readyz", "", ""); status != 200 {
		t.Fatalf("readyz %d", status)
	}
	a := "user=alice&role=CLIENT"
	id1 := s.converse("alice", "bob")
	status, out := s.api("POST", "/v1/conversations", "user=bob&role=CLIENT", `{"memberIds":["bob","alice"]}`)
	if status != 200 || out["conversationId"] != id1 {
		t.Fatalf("same pair gave %d %v, want %s", status, out, id1)
	}
	for _, tc := range []struct {
		body, query, code string
		status            int
	}{
		{`{"memberIds":["bob","carol"]}`, a, "forbidden", 403},
		{`{"memberIds":["alice"]}`, a, "invalid_payload", 400},
		{`{"memberIds":["alice","b c"]}`, a, "invalid_payload", 400},
		{`{"memberIds":"alice"}`, a, "invalid_payload", 400},
		{`{"memberIds":`, a, "bad_json", 400},
		{`{}`, a, "invalid_payload", 400},
		{`{"memberIds":["a","b"]}`, "", "unauthorized", 401},
		{`{"memberIds":["` + strings.Repeat("x", 70000) + `"]}`, a, "too_large", 413},
	} {
		status, out := s.api("POST", "/v1/conversations", tc.query, tc.body)
		if status != tc.status || errorCode(out) != tc.code {
			t.Fatalf("POST %.40s: %d %v, want %d %s", tc.body, status, out, tc.status, tc.code)
		}
	}
	if status, out := s.api("POST", "/v1/conversations", "user=root&role=ADMIN", `{"memberIds":["x","y"]}`); status != 200 {
		t.Fatalf("admin creating for others: %d %v", status, out)
	}
	status, out = s.api("GET", "/v1/conversations", a, "")
	if list, _ := out["conversations"].([]any); status != 200 || len(list) != 1 {
		t.Fatalf("list %d %v", status, out)
	}

	s.dial("bob", "FREELANCER")
	status, out = s.api("GET", "/v1/presence/bob", a, "")
	if status != 200 || out["status"] != "active" || out["role"] != "FREELANCER" {
		t.Fatalf("presence of a contact: %d %v", status, out)
	}
	if status, out := s.api("GET", "/v1/presence/bob", "user=mallory&role=CLIENT", ""); status != 404 || errorCode(out) != "not_found" {
		t.Fatalf("presence of a stranger: %d %v", status, out)
	}
	if status, out := s.api("GET", "/v1/presence/bob", "user=root&role=ADMIN", ""); status != 200 {
		t.Fatalf("admin asking: %d %v", status, out)
	}
	if status, out := s.api("GET", "/nope", "", ""); status != 404 || errorCode(out) != "not_found" {
		t.Fatalf("unknown path: %d %v", status, out)
	}
}

func TestMetricsAreServed(t *testing.T) {
	s := start(t)
	c, _ := s.dial("alice", "CLIENT")
	c.Heartbeat()
	body := s.metricsText()
	for _, want := range []string{
		"presenced_connections 1", `presenced_frames_in_total{type="heartbeat"} 1`,
		`presenced_frames_out_total{type="presence:connected"} 1`, "presenced_users_online 1",
		"presenced_presence_changes_total", `presenced_errors_total{code="bad_json"} 0`,
		"presenced_presence_fanout_batch_users",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestShutdownClosesConnectionsWith1012(t *testing.T) {
	s := start(t)
	c, _ := s.dial("alice", "CLIENT")
	if err := s.e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := c.Closed(); code != websocket.CloseServiceRestart {
		t.Fatalf("closed with %d, want 1012", code)
	}
}

// waitConnections waits until the engine holds n connections: the server's
// side of a close a client made is asynchronous.
func (s *server) waitConnections(n int) {
	s.t.Helper()
	deadline := time.Now().Add(wstest.Wait)
	for s.e.Connections() != n {
		if time.Now().After(deadline) {
			s.t.Fatalf("engine holds %d connections, want %d", s.e.Connections(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func assertJSONError(t *testing.T, resp *http.Response, code string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("body %+v (%v), want error code %s with a message", body, err, code)
	}
}

func publicPEM(t *testing.T, key any) []byte {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestSlowReaderIsClosedWithoutSlowingOthers fills a client's socket by
// never reading it: its send queue overflows and it is closed, while
// another client is served as usual.
func TestSlowReaderIsClosedWithoutSlowingOthers(t *testing.T) {
	s := start(t, func(c *config) {
		c.transport.SendQueue = 8
		c.transport.WriteTimeout = 300 * time.Millisecond
		c.transport.RatePerSecond = 1e6
		c.transport.RateBurst = 1e6
	})
	other, _ := s.dial("other", "CLIENT")
	// A small receive buffer so that a few hundred KB fill the path.
	dialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := dialer.Dial(wstest.WSURL(s.http.URL, "user=slow&role=CLIENT"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("some-user-with-a-long-id-%04d", i)
	}
	req, _ := json.Marshal(map[string]any{"type": "presence:subscribe", "data": map[string]any{"userIds": ids}})
	// Ask for snapshots until the server gives up on the slow reader; how
	// many that takes depends on socket buffers and on the machine's speed.
	deadline := time.Now().Add(60 * time.Second)
	_ = slow.SetWriteDeadline(deadline)
	for i := 0; s.e.Connections() == 2; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the slow reader was never closed")
		}
		if slow.WriteMessage(websocket.TextMessage, req) != nil {
			break
		}
		if i%20 == 0 {
			other.Heartbeat() // served while the slow one piles up
		}
	}
	s.waitConnections(1)
	other.Heartbeat()
	body := s.metricsText()
	if !strings.Contains(body, "presenced_slow_connections_closed_total 1") {
		t.Fatalf("slow connection not counted:\n%s", grepLines(body, "slow"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestInfoTellsClientsHowToConnect(t *testing.T) {
	s := start(t)
	status, out := s.api("GET", "/v1/info", "", "")
	if status != 200 || out["authMode"] != "dev" || out["heartbeatIntervalMs"].(float64) != 25000 || out["maxMessageBytes"].(float64) != 4096 {
		t.Fatalf("info %d %v", status, out)
	}
}

func TestClusterMembersIsForAdmins(t *testing.T) {
	s := start(t)
	s.dial("alice", "CLIENT")
	if status, out := s.api("GET", "/v1/cluster/members", "user=alice&role=CLIENT", ""); status != 403 || errorCode(out) != "forbidden" {
		t.Fatalf("non-admin: %d %v", status, out)
	}
	status, out := s.api("GET", "/v1/cluster/members", "user=root&role=ADMIN", "")
	members, _ := out["members"].([]any)
	if status != 200 || len(members) != 1 || members[0].(map[string]any)["connections"].(float64) != 1 {
		t.Fatalf("single node: %d %v", status, out)
	}
}

func TestQuietConnectionsArePinged(t *testing.T) {
	s := start(t, func(c *config) { c.transport.PingInterval = 100 * time.Millisecond })
	ws, _, err := websocket.DefaultDialer.Dial(wstest.WSURL(s.http.URL, "user=alice&role=CLIENT"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	pinged := make(chan struct{}, 1)
	ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(wstest.Wait):
		t.Fatal("a quiet connection was not pinged")
	}
}

// An idle connection is a socket the poller watches, not a goroutine
// parked in a read: thousands of idle users must not cost thousands of
// stacks.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	needPoller(t)
	s := start(t)
	const n = 200
	for i := range n {
		// Raw clients, read only for their first frame: no goroutine on
		// the client side.
		ws, _, err := websocket.DefaultDialer.Dial(wstest.WSURL(s.http.URL, fmt.Sprintf("user=u%d&role=CLIENT", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	// A connection is idle once its first frame is written and its socket
	// handed to the poller: probe until then.
	waitServing(t, n/10, "idle connections", n)
}

func needPoller(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux only; elsewhere each connection reads on a goroutine")
	}
}

// waitServing probes until at most max goroutines run connection code.
func waitServing(t *testing.T, max int, what string, n int) {
	t.Helper()
	deadline := time.Now().Add(wstest.Wait)
	for {
		serving := connGoroutines()
		if serving <= max {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines serve %d %s", serving, n, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connGoroutines counts the goroutines running a connection's code. Idle
// workers of the pools were created by connections but run none of it.
func connGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		frames, _, _ := strings.Cut(g, "\ncreated by ")
		if strings.Contains(frames, "presenced/transport.(*conn)") {
			n++
		}
	}
	return n
}

// A client that never answers the server's close frame is dropped after
// the close wait, and then no longer counts as connected.
func TestClientIgnoringTheCloseIsDropped(t *testing.T) {
	s := start(t)
	ws, _, err := websocket.DefaultDialer.Dial(wstest.WSURL(s.http.URL, "user=mute&role=CLIENT"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s.waitConnections(1)
	s.clock.Advance(30 * time.Second) // the heartbeat timeout: the server closes
	s.waitConnections(0)
}

// pinger is a raw client that keeps its connection alive with WebSocket
// pings only, as a client whose application heartbeats are throttled might.
type pinger struct {
	ws     *websocket.Conn
	pongs  chan string
	frames chan []byte // closed when reading ends
	code   int         // the server's close code, once frames is closed
}

func dialPinger(t *testing.T, s *server, user string) *pinger {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(wstest.WSURL(s.http.URL, "user="+user+"&role=CLIENT"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	p := &pinger{ws: ws, pongs: make(chan string, 4), frames: make(chan []byte, 16)}
	ws.SetPongHandler(func(data string) error {
		select {
		case p.pongs <- data:
		default: // a flood's pongs nobody waits for
		}
		return nil
	})
	go func() {
		defer close(p.frames)
		for {
			_, f, err := ws.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					p.code = ce.Code
				}
				return
			}
			p.frames <- f
		}
	}()
	p.expect(t, "presence:connected")
	return p
}

func (p *pinger) ping(t *testing.T, payload string) {
	t.Helper()
	if err := p.ws.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(wstest.Wait)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-p.pongs:
		if got != payload {
			t.Fatalf("pong carried %q, want the ping's %q", got, payload)
		}
	case <-time.After(wstest.Wait):
		t.Fatal("ping not answered")
	}
}

func (p *pinger) expect(t *testing.T, typ string) {
	t.Helper()
	select {
	case f, ok := <-p.frames:
		if !ok {
			t.Fatalf("connection ended waiting for %s", typ)
		}
		if !strings.Contains(string(f), `"type":"`+typ+`"`) {
			t.Fatalf("got %s, want %s", f, typ)
		}
	case <-time.After(wstest.Wait):
		t.Fatalf("no %s", typ)
	}
}

// A WebSocket ping is a frame: it keeps the connection alive like any
// other, and is answered with its own payload.
func TestClientPingsKeepTheConnectionAlive(t *testing.T) {
	s := start(t)
	p := dialPinger(t, s, "alice")
	s.clock.Advance(29 * time.Second)
	p.ping(t, "still here")
	s.clock.Advance(29 * time.Second) // 58 s after connecting, 29 after the ping
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	p.expect(t, "heartbeat:ack")
}

// A client that only pings must not hold a reader: once its ping is
// answered the connection goes back to the poller like any idle one.
func TestPingingClientHoldsNoGoroutine(t *testing.T) {
	needPoller(t)
	s := start(t)
	const n = 20
	for i := range n {
		dialPinger(t, s, fmt.Sprintf("p%d", i)).ping(t, "")
	}
	waitServing(t, 0, "connections that only pinged", n)
}

// Pings are frames under the rate limit: past it they go unanswered, and
// a flood of them closes the connection like any other flood.
func TestPingFloodIsClosed(t *testing.T) {
	s := start(t, func(c *config) {
		c.transport.RatePerSecond = 1
		c.transport.RateBurst = 5
	})
	p := dialPinger(t, s, "alice")
	for range 5 {
		p.ping(t, "ok")
	}
	for range 40 {
		if p.ws.WriteControl(websocket.PingMessage, []byte("flood"), time.Now().Add(wstest.Wait)) != nil {
			break // closed mid-flood
		}
	}
	for {
		select {
		case _, ok := <-p.frames:
			if ok {
				continue
			}
		case <-time.After(wstest.Wait):
			t.Fatal("a ping flood did not close the connection")
		}
		break
	}
	if p.code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want 1008", p.code)
	}
}

// Greetings are built in reused buffers (TestReturnedBufferComesBackOnly
// OnceWritten checks when one comes back). Many users connecting at once,
// each is greeted as itself, with only the others, each at most once.
func TestGreetingsStayWholeWhileManyConnectAtOnce(t *testing.T) {
	s := start(t, func(c *config) { c.engine.Visibility = actors.VisibilityAll })
	const n = 60
	type greeting struct {
		user string
		d    connectedData
	}
	got := make(chan greeting, n)
	var wg sync.WaitGroup
	for i := range n {
		user := fmt.Sprintf("g%02d", i)
		wg.Go(func() {
			c := wstest.Dial(t, wstest.WSURL(s.http.URL, "user="+user+"&role=CLIENT"), nil)
			var d connectedData
			if err := json.Unmarshal(c.Expect("presence:connected").Data, &d); err != nil {
				t.Errorf("%s's greeting is not JSON: %v", user, err)
			}
			got <- greeting{user, d}
		})
	}
	wg.Wait()
	close(got)
	for g := range got {
		if g.d.You["userId"] != g.user {
			t.Errorf("%s was greeted as %v", g.user, g.d.You)
		}
		seen := make(map[string]bool)
		for _, p := range g.d.Users {
			if p.UserID == g.user || seen[p.UserID] || !strings.HasPrefix(p.UserID, "g") || p.Status != "active" {
				t.Errorf("%s's greeting lists %+v (self, twice, or not one of us)", g.user, p)
			}
			seen[p.UserID] = true
		}
	}
}
