package transport

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// pinger pings connections that have been quiet (no frame, no pong) for
// the ping interval, so that proxies keep them open and a client whose own
// heartbeats run late (a browser throttles the timers of a background tab)
// keeps its connection by answering at the WebSocket level, which no
// throttling delays; the pong counts as life. A client heartbeating in
// time is not pinged: its frames and our acks keep the connection busy
// both ways already. One goroutine checks every connection once a second:
// cheaper than a timer per connection, and a ping a second late does not
// matter.
type pinger struct {
	srv   *Server
	mu    sync.Mutex
	conns map[*conn]struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newPinger(srv *Server) *pinger {
	return &pinger{srv: srv, conns: make(map[*conn]struct{}), stop: make(chan struct{}), done: make(chan struct{})}
}

func (p *pinger) add(c *conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *pinger) remove(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// run is the pinger's goroutine, owned by the Server: close stops it.
func (p *pinger) run() {
	defer close(p.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			for _, c := range p.quiet(now, p.srv.opts.PingInterval) {
				c.ping()
			}
		}
	}
}

func (p *pinger) quiet(now time.Time, quietFor time.Duration) []*conn {
	limit := now.Add(-quietFor).UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*conn
	for c := range p.conns {
		if c.lastIn.Load() < limit {
			out = append(out, c)
		}
	}
	return out
}

func (p *pinger) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// ping sends a ping without blocking the pinger: a write to a client that
// does not read waits up to the write timeout.
func (c *conn) ping() {
	c.mu.Lock()
	ws, done := c.ws, c.closing || c.closed
	c.mu.Unlock()
	if done || ws == nil {
		return
	}
	// Counted as sent now, so a quiet client is pinged once per interval.
	c.lastIn.Store(time.Now().UnixNano())
	c.srv.work.Go(func() {
		_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.srv.opts.WriteTimeout))
	})
}
