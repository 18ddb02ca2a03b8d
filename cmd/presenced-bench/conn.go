package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds one write; a server that does not read for this long
// is as good as gone.
const writeTimeout = 10 * time.Second

// frame is one text frame from the server, with the time it was read.
type frame struct {
	typ string
	raw []byte
	at  time.Time
}

// handler sees every text frame a connection reads, on its reader
// goroutine.
type handler func(c *conn, f frame)

// conn is one simulated client. One reader goroutine reads every frame
// (which also answers the server's pings: gorilla's default handler pongs
// while a read is in progress); writes go through write, under a lock, so
// the heartbeat timer and a scenario may both write.
type conn struct {
	ws   *websocket.Conn
	user string
	cnt  *counters

	wmu sync.Mutex // serialises writes

	hbMu    sync.Mutex
	hb      *time.Timer // next heartbeat; nil when not heartbeating
	hbEvery time.Duration

	closing atomic.Bool // set by close: an end of reading after it is ours
	started bool
	done    chan struct{} // closed when the reader has returned
}

// hello is what presence:connected told the connection.
type hello struct {
	HeartbeatIntervalMs int64 `json:"heartbeatIntervalMs"`
}

// dialConn connects user, waits for presence:connected and returns the
// connection, not yet reading. Failures are counted by kind.
func dialConn(ctx context.Context, d *websocket.Dialer, endpoint *url.URL, id identity, user, role string, timeout time.Duration, cnt *counters) (*conn, hello, error) {
	cnt.add(cDialStarted, 1)
	c, h, err := dialHello(ctx, d, endpoint, id, user, role, timeout)
	if err != nil {
		cnt.add(cDialFailed, 1)
		cnt.add(pDialFail+failureKind(err), 1)
		return nil, hello{}, err
	}
	c.cnt = cnt
	cnt.add(cOpened, 1)
	cnt.add(cOpen, 1)
	return c, h, nil
}

func dialHello(ctx context.Context, d *websocket.Dialer, endpoint *url.URL, id identity, user, role string, timeout time.Duration) (*conn, hello, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := *endpoint
	q := u.Query()
	header := http.Header{}
	if err := id.authorize(q, header, user, role); err != nil {
		return nil, hello{}, err
	}
	u.RawQuery = q.Encode()
	ws, resp, err := d.DialContext(ctx, u.String(), header)
	if err != nil {
		if resp != nil {
			return nil, hello{}, &httpStatusError{status: resp.StatusCode}
		}
		return nil, hello{}, fmt.Errorf("dialling as %s: %w", user, err)
	}
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	_, b, err := ws.ReadMessage()
	if err != nil {
		_ = ws.Close()
		return nil, hello{}, fmt.Errorf("waiting for presence:connected as %s: %w", user, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	if t := frameType(b); t != "presence:connected" {
		_ = ws.Close()
		return nil, hello{}, fmt.Errorf("first frame for %s is %q, want presence:connected", user, t)
	}
	h, err := helloOf(b)
	if err != nil {
		_ = ws.Close()
		return nil, hello{}, fmt.Errorf("decoding presence:connected: %w", err)
	}
	return &conn{ws: ws, user: user, done: make(chan struct{})}, h, nil
}

// httpStatusError is an upgrade the server refused with an HTTP status.
type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("upgrade refused: HTTP %d", e.status) }

// failureKind names why a dial failed, for the per-kind counters.
func failureKind(err error) string {
	var hs *httpStatusError
	var ne net.Error
	switch {
	case errors.As(err, &hs):
		return fmt.Sprintf("http_%d", hs.status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "no_file"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return "other"
	}
}

// start runs the reader and, when every > 0, heartbeats every that long
// from a random phase, so that many connections do not beat together.
func (c *conn) start(h handler, every time.Duration) {
	c.started = true
	if every > 0 {
		c.hbEvery = every
		c.hbMu.Lock()
		c.hb = time.AfterFunc(rand.N(every), c.beat)
		c.hbMu.Unlock()
	}
	go c.read(h)
}

func (c *conn) read(h handler) {
	defer close(c.done)
	for {
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			c.ended(err)
			return
		}
		at := time.Now()
		c.cnt.add(cFramesIn, 1)
		c.cnt.add(cBytesIn, int64(len(b)))
		if typ != websocket.TextMessage {
			continue
		}
		t := frameType(b)
		switch t {
		case "heartbeat:ack":
			c.cnt.add(cAcks, 1)
		case "error":
			c.cnt.add(cErrors, 1)
			c.cnt.add(pError+errorCode(b), 1)
		}
		if h != nil {
			h(c, frame{typ: t, raw: b, at: at})
		}
	}
}

// ended counts a connection that stopped reading; when we did not close
// it, by its close code (1006 when the TCP connection just went away).
func (c *conn) ended(err error) {
	c.cnt.add(cOpen, -1)
	c.stopHeartbeat()
	if c.closing.Load() {
		return
	}
	c.cnt.add(cClosed, 1)
	code := websocket.CloseAbnormalClosure
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	c.cnt.add(fmt.Sprintf("%s%d", pClose, code), 1)
}

func (c *conn) beat() {
	if c.closing.Load() {
		return
	}
	// Counted before the write, so that its ack is never counted first.
	c.cnt.add(cHeartbeats, 1)
	if err := c.write([]byte(`{"type":"heartbeat"}`)); err != nil {
		c.cnt.add(cHeartbeats, -1)
	}
	c.hbMu.Lock()
	if c.hb != nil && !c.closing.Load() {
		c.hb.Reset(c.hbEvery)
	}
	c.hbMu.Unlock()
}

func (c *conn) stopHeartbeat() {
	c.hbMu.Lock()
	if c.hb != nil {
		c.hb.Stop()
		c.hb = nil
	}
	c.hbMu.Unlock()
}

// write sends one text frame.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("writing to %s's connection: %w", c.user, err)
	}
	c.cnt.add(cFramesOut, 1)
	return nil
}

// close says goodbye (1000), closes the socket and waits for the reader.
// Safe to call more than once.
func (c *conn) close() {
	if c.closing.Swap(true) {
		if c.started {
			<-c.done
		}
		return
	}
	c.stopHeartbeat()
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
	if c.started {
		<-c.done
	} else {
		c.cnt.add(cOpen, -1)
	}
}

// frameType returns a frame's "type". Servers that write it first (as
// presenced does) are read without decoding the rest of the frame.
func frameType(b []byte) string {
	const prefix = `{"type":"`
	if bytes.HasPrefix(b, []byte(prefix)) {
		rest := b[len(prefix):]
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return string(rest[:end])
		}
	}
	var f struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(b, &f) != nil {
		return "!bad-json"
	}
	return f.Type
}

// errorCode returns the code of an error frame.
func errorCode(b []byte) string {
	var f struct {
		Data struct {
			Code string `json:"code"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &f) != nil || f.Data.Code == "" {
		return "unknown"
	}
	return f.Data.Code
}

// connSet is the connections a worker holds, closed together at the end.
type connSet struct {
	mu    sync.Mutex
	conns []*conn
}

func (s *connSet) add(c *conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

// closeAll closes every connection, par at a time, and waits.
func (s *connSet) closeAll(par int) {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	forEach(context.Background(), len(conns), par, func(i int) { conns[i].close() })
}

// forEach runs f(0..n-1) with at most par calls at once and returns when
// all started calls have returned; it starts no more once ctx ends.
func forEach(ctx context.Context, n, par int, f func(i int)) {
	par = max(1, min(par, n))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
