package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// identity authenticates simulated users: dev mode (?user=&role=) or HS256
// tokens minted from a shared secret.
type identity struct {
	secret []byte // nil: dev mode
	expiry time.Time
}

func newIdentity(c *Config) identity {
	id := identity{}
	if c.JWTSecret != "" {
		id.secret = []byte(c.JWTSecret)
		// Long enough for any run; the server checks exp only at the upgrade.
		id.expiry = time.Now().Add(24 * time.Hour)
	}
	return id
}

// token mints a token for user with role.
func (id identity) token(user, role string) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "role": role, "exp": id.expiry.Unix(),
	})
	s, err := t.SignedString(id.secret)
	if err != nil {
		return "", fmt.Errorf("signing a token for %s: %w", user, err)
	}
	return s, nil
}

// authorize adds user's credentials to a request's query or headers.
func (id identity) authorize(q url.Values, h http.Header, user, role string) error {
	if id.secret == nil {
		q.Set("user", user)
		q.Set("role", role)
		return nil
	}
	tok, err := id.token(user, role)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+tok)
	return nil
}

// sourcePool spreads connections over loopback source addresses, perIP
// each, so that no address runs out of ephemeral ports (about 28,000 on
// Linux, fewer while closed ones sit in TIME_WAIT).
type sourcePool struct {
	dialers []*websocket.Dialer
	perIP   int
}

// newSourcePool makes the dialers for conns connections starting at the
// offset-th address after first.
func newSourcePool(c *Config, first net.IP, offset, conns int) (*sourcePool, error) {
	n := max(1, ceilDiv(conns, c.ConnsPerIP))
	p := &sourcePool{perIP: c.ConnsPerIP}
	for i := range n {
		ip, err := addIP(first, offset+i)
		if err != nil {
			return nil, err
		}
		p.dialers = append(p.dialers, newDialer(ip, c.ConnectTimeout))
	}
	return p, nil
}

// dialer returns the dialer for the i-th connection of this pool.
func (p *sourcePool) dialer(i int) *websocket.Dialer {
	return p.dialers[min(i/p.perIP, len(p.dialers)-1)]
}

// addIP returns the address n after ip, staying inside 127.0.0.0/8.
func addIP(ip net.IP, n int) (net.IP, error) {
	v4 := ip.To4()
	v := uint32(v4[0])<<24 | uint32(v4[1])<<16 | uint32(v4[2])<<8 | uint32(v4[3])
	v += uint32(n)
	out := net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	if !out.IsLoopback() || byte(v) == 0 || byte(v) == 255 {
		return nil, fmt.Errorf("source address %s (+%d) leaves the loopback range or is not usable", ip, n)
	}
	return out, nil
}

// newDialer is a WebSocket dialer bound to the source address ip, with
// small buffers: a load generator holds tens of thousands of connections.
func newDialer(ip net.IP, timeout time.Duration) *websocket.Dialer {
	nd := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: ip},
		Timeout:   timeout,
		KeepAlive: -1, // the protocol's heartbeats and pings keep connections alive
	}
	return &websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: timeout,
		ReadBufferSize:   2048,
		WriteBufferSize:  1024,
	}
}

// wsURL turns the server's base URL into its /ws endpoint.
func wsURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("parsing --url: %w", err)
	}
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	return u, nil
}

// raiseFileLimit sets the soft limit of open files to the hard limit and
// returns it: each connection is a file.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("raising the open-file limit to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// api calls the server's HTTP API as user.
type api struct {
	base   string
	role   string
	id     identity
	client *http.Client
}

func newAPI(c *Config, id identity) *api {
	return &api{
		base: strings.TrimSuffix(c.URL, "/"), role: c.Role, id: id,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
	}
}

// do sends a request as user and decodes a 200 answer into out.
func (a *api) do(ctx context.Context, method, path string, query url.Values, user string, body, out any) error {
	if query == nil {
		query = url.Values{}
	}
	h := http.Header{}
	if err := a.id.authorize(query, h, user, a.role); err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path+"?"+query.Encode(), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header = h
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// conversation creates (or finds) the direct conversation of a and b, as a.
func (a *api) conversation(ctx context.Context, user, other string) (string, error) {
	var out struct {
		ConversationID string `json:"conversationId"`
	}
	body := map[string][]string{"memberIds": {user, other}}
	if err := a.do(ctx, http.MethodPost, "/v1/conversations", nil, user, body, &out); err != nil {
		return "", err
	}
	if out.ConversationID == "" {
		return "", fmt.Errorf("POST /v1/conversations: no conversationId in the answer")
	}
	return out.ConversationID, nil
}

// storedMessage is the part of a history message the checks need.
type storedMessage struct {
	Seq         int64  `json:"seq"`
	ClientMsgID string `json:"clientMsgId"`
}

// history returns every message of conversation conv, oldest first, paging
// forward from the start, as user.
func (a *api) history(ctx context.Context, user, conv string) ([]storedMessage, error) {
	var all []storedMessage
	after := int64(0)
	for {
		var page struct {
			Messages []storedMessage `json:"messages"`
			HasMore  bool            `json:"hasMore"`
		}
		q := url.Values{"afterSeq": {fmt.Sprint(after)}, "limit": {"200"}}
		if err := a.do(ctx, http.MethodGet, "/v1/conversations/"+url.PathEscape(conv)+"/messages", q, user, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		if !page.HasMore || len(page.Messages) == 0 {
			return all, nil
		}
		after = page.Messages[len(page.Messages)-1].Seq
	}
}

// serverInfo is GET /v1/info where the server has it (presenced does; the
// protocol does not require it), used only for warnings.
type serverInfo struct {
	Visibility string `json:"visibility"`
}

func (a *api) info(ctx context.Context) (*serverInfo, error) {
	var out serverInfo
	if err := a.do(ctx, http.MethodGet, "/v1/info", nil, "bench-probe", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
