// Package wstest is a WebSocket client of PROTOCOL.md for end-to-end tests:
// it dials a real server, sends frames, and waits for the frames it expects
// (with a deadline, never a sleep).
package wstest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Wait bounds every expectation: long enough for a loaded CI machine, short
// enough that a broken test fails quickly.
const Wait = 5 * time.Second

// Frame is one server-to-client frame.
type Frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
	Raw  []byte          `json:"-"`
}

// Decode decodes the frame's data into v, failing the test on error.
func (f Frame) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Data, v); err != nil {
		t.Fatalf("decoding %s data %s: %v", f.Type, f.Data, err)
	}
}

// Client is one test connection. A goroutine reads every frame into a
// channel, so waiting for a frame never disturbs the connection.
type Client struct {
	t      testing.TB
	WS     *websocket.Conn
	frames chan Frame
	done   chan struct{}
	err    error // why reading ended; valid once done is closed
}

// Dial connects to url (ws://...) with header, failing the test if the
// upgrade is refused.
func Dial(t testing.TB, url string, header http.Header) *Client {
	t.Helper()
	c, resp, err := TryDial(t, url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	return c
}

// TryDial connects to url and returns the handshake response either way.
func TryDial(t testing.TB, url string, header http.Header) (*Client, *http.Response, error) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{t: t, WS: ws, frames: make(chan Frame, 4096), done: make(chan struct{})}
	go c.pump()
	t.Cleanup(func() { _ = ws.Close() })
	return c, resp, nil
}

func (c *Client) pump() {
	defer close(c.done)
	for {
		typ, b, err := c.WS.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		var f Frame
		if json.Unmarshal(b, &f) != nil {
			f = Frame{Type: "!not-json"}
		}
		f.Raw = b
		c.frames <- f
	}
}

// Send sends a frame with the given type, ref and data (any JSON value).
func (c *Client) Send(typ, ref string, data any) {
	c.t.Helper()
	m := map[string]any{"type": typ}
	if ref != "" {
		m["ref"] = ref
	}
	if data != nil {
		m["data"] = data
	}
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatalf("encoding frame: %v", err)
	}
	c.SendRaw(b)
}

// SendRaw sends bytes as one text frame.
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	if err := c.WS.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("sending: %v", err)
	}
}

// Next returns the next frame, failing if none arrives within Wait.
func (c *Client) Next() Frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection ended (%v) while waiting for a frame", c.err)
	case <-time.After(Wait):
		c.t.Fatalf("no frame within %v", Wait)
	}
	return Frame{}
}

// Expect returns the next frame and fails unless it has type typ.
func (c *Client) Expect(typ string) Frame {
	c.t.Helper()
	f := c.Next()
	if f.Type != typ {
		c.t.Fatalf("got %s %s, want %s", f.Type, f.Raw, typ)
	}
	return f
}

// Until skips frames until one of type typ arrives, and returns it.
func (c *Client) Until(typ string) Frame {
	c.t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case f := <-c.frames:
			if f.Type == typ {
				return f
			}
		case <-c.done:
			c.t.Fatalf("connection ended (%v) while waiting for %s", c.err, typ)
		case <-deadline:
			c.t.Fatalf("no %s within %v", typ, Wait)
		}
	}
}

// ExpectError returns the next frame and fails unless it is an error frame
// with code and ref.
func (c *Client) ExpectError(code, ref string) string {
	c.t.Helper()
	f := c.Expect("error")
	var e struct{ Code, Message string }
	f.Decode(c.t, &e)
	if e.Code != code || f.Ref != ref {
		c.t.Fatalf("got error %s ref %q, want code %s ref %q", f.Raw, f.Ref, code, ref)
	}
	return e.Message
}

// Quiet fails if a frame arrives within d. Only for asserting that nothing
// happens, where there is no event to wait for.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("got %s, want no frame", f.Raw)
	case <-time.After(d):
	}
}

// Closed waits for the server to end the connection and returns the close
// code (websocket.CloseAbnormalClosure when no close frame came).
func (c *Client) Closed() int {
	c.t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case <-c.frames:
		case <-c.done:
			var ce *websocket.CloseError
			if errors.As(c.err, &ce) {
				return ce.Code
			}
			return websocket.CloseAbnormalClosure
		case <-deadline:
			c.t.Fatalf("connection still open after %v", Wait)
		}
	}
}

// Heartbeat sends a heartbeat and waits for its ack, skipping other frames.
func (c *Client) Heartbeat() {
	c.t.Helper()
	c.Send("heartbeat", "hb", nil)
	c.Until("heartbeat:ack")
}

// WSURL turns an http:// test server URL into ws://.../ws?query.
func WSURL(httpURL, query string) string {
	u := "ws" + strings.TrimPrefix(httpURL, "http") + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// ExpectErrorSkipping skips frames that are not errors (pushed presence,
// messages) until an error frame arrives, and checks its code and ref.
func (c *Client) ExpectErrorSkipping(code, ref string) {
	c.t.Helper()
	f := c.Until("error")
	var e struct{ Code string }
	f.Decode(c.t, &e)
	if e.Code != code || f.Ref != ref {
		c.t.Fatalf("got error %s, want code %s ref %q", f.Raw, code, ref)
	}
}

// NextWithin returns the next frame if one arrives within d.
func (c *Client) NextWithin(d time.Duration) (Frame, bool) {
	select {
	case f := <-c.frames:
		return f, true
	case <-time.After(d):
		return Frame{}, false
	}
}
