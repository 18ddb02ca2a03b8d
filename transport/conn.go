package transport

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

// closeWait is how long a closing connection waits for the client's
// closing handshake before the socket is dropped.
const closeWait = 2 * time.Second

// stallAfter is how long a writer may make no progress, its queue full,
// before the connection counts as too slow. A full queue alone is not
// enough: a burst (a group commit acknowledging many sends at once) can
// outrun a writer that is merely waiting to be scheduled.
const stallAfter = 250 * time.Millisecond

// burstFactor bounds the queue however well the writer progresses.
const burstFactor = 4

// queued is a frame waiting to be written, and when it was queued; done,
// when set, takes the frame's buffer back once it is written.
type queued struct {
	frame []byte
	at    int64 // unix ns
	done  func([]byte)
}

// conn is one WebSocket connection. Its reading side owns its lifecycle:
// it starts the writer, and on its way out ends the session and the socket.
// Reading, handling and writing run as jobs on the server's workers, woken
// by the poller, so an idle connection costs no goroutine and no write
// buffer (see park.go).
type conn struct {
	srv  *Server
	sess *actors.Session

	mu         sync.Mutex
	ws         *websocket.Conn // nil until the upgrade completes
	queue      []queued
	spare      []queued
	writing    bool
	closing    bool // Close was called: nothing more is queued
	closeFrame []byte
	closed     bool           // the socket is gone; implies closing
	ready      sync.WaitGroup // done when the first frame is queued, or there will be none
	readyDone  bool
	progress   atomic.Int64 // unix ns of the writer's last completed write, or its start
	unwritten  atomic.Int32 // frames queued, not yet handed to the socket
	lastIn     atomic.Int64 // unix ns of the client's last frame or pong

	limiter *rate.Limiter
	strikes *rate.Limiter

	// Set when the poller reads this connection: the read buffer we own,
	// the socket for epoll and the poller's token for it.
	br       *bufio.Reader
	raw      syscall.RawConn
	token    int32
	armed    atomic.Uint32 // times armed: orders one read job before the next
	dropped  atomic.Bool   // drop was called: the reader ends at its next read
	inPoller atomic.Bool   // the socket is (or is about to be) registered with epoll
}

func newConn(srv *Server) *conn {
	c := &conn{
		srv:     srv,
		limiter: rate.NewLimiter(rate.Limit(srv.opts.RatePerSecond), srv.opts.RateBurst),
	}
	// A WaitGroup rather than a channel: it lives inside the connection,
	// where a channel would cost every connection another 96 bytes.
	c.ready.Add(1)
	return c
}

// Push implements actors.Conn: queue a frame without blocking. A connection
// whose queue is full is too slow to keep up and is closed with 1008.
func (c *conn) Push(frame []byte) bool { return c.push(queued{frame: frame}) }

var _ actors.ReturningConn = (*conn)(nil)

// PushReturned implements actors.ReturningConn.
func (c *conn) PushReturned(frame []byte, done func([]byte)) bool {
	return c.push(queued{frame: frame, done: done})
}

func (c *conn) push(q queued) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.tooSlowLocked() {
		c.mu.Unlock()
		c.srv.metrics.slowClosed.Inc()
		c.Close(actors.ClosePolicy, "send queue full: reading too slowly")
		return false
	}
	q.at = time.Now().UnixNano()
	c.queue = append(c.queue, q)
	c.unwritten.Add(1)
	c.readyLocked()
	c.startWriterLocked(q.at)
	c.mu.Unlock()
	return true
}

// tooSlowLocked: the queue is full and the writer has been stuck for
// stallAfter (the socket does not drain: the client does not read), or the
// queue is burstFactor times over however the writer goes.
func (c *conn) tooSlowLocked() bool {
	n, limit := len(c.queue), c.srv.opts.SendQueue
	switch {
	case n < limit:
		return false
	case n >= burstFactor*limit:
		return true
	default:
		return c.writing && time.Since(time.Unix(0, c.progress.Load())) > stallAfter
	}
}

// Unwritten implements actors.Conn.
func (c *conn) Unwritten() int { return int(c.unwritten.Load()) }

// Close implements actors.Conn: send a close frame after what is queued
// already is dropped, and drop the socket if the client does not answer
// within closeWait. It never blocks.
func (c *conn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	c.closeFrame = websocket.FormatCloseMessage(code, reason)
	c.unwritten.Add(-int32(len(c.queue)))
	c.queue = c.queue[:0]
	c.readyLocked()
	c.startWriterLocked(time.Now().UnixNano())
}

// readyLocked lets the reader start: the first frame is queued, or there
// will be none.
func (c *conn) readyLocked() {
	if !c.readyDone {
		c.readyDone = true
		c.ready.Done()
	}
}

// startWriterLocked starts the writer if it is needed and not running; now
// (unix ns) is the caller's reading of the clock, one per frame being
// enough on the path every frame takes.
func (c *conn) startWriterLocked(now int64) {
	if c.ws == nil || c.writing || c.closed {
		return
	}
	if len(c.queue) == 0 && c.closeFrame == nil {
		return
	}
	c.writing = true
	c.progress.Store(now)
	c.srv.work.Go(c.writeLoop)
}

// writeLoop is the connection's only writer of data frames. It drains the
// queue and exits when it is empty; Push starts it again.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		batch, closeFrame := c.queue, c.closeFrame
		c.queue, c.spare = c.spare[:0], nil
		c.closeFrame = nil
		if len(batch) == 0 && closeFrame == nil || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		ws := c.ws
		c.mu.Unlock()

		for i, q := range batch {
			// Uncounted before the write: once written, the client may
			// have read the frame and answered before this goroutine runs
			// again, and the registry must not still see it pending then.
			c.unwritten.Add(-1)
			written, err := c.write(ws, q.frame)
			if err != nil {
				c.abort(err)
				return
			}
			c.srv.metrics.frameWait.Observe(float64(written-q.at) / 1e9)
			if q.done != nil {
				q.done(q.frame)
			}
			batch[i] = queued{}
		}
		if closeFrame != nil {
			deadline := time.Now().Add(c.srv.opts.WriteTimeout)
			_ = ws.WriteControl(websocket.CloseMessage, closeFrame, deadline)
			// The reader ends on the client's answer, or when this drops
			// the socket.
			time.AfterFunc(closeWait, func() { c.drop(ws) })
		}
		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
	}
}

// write writes one data frame and returns when it was written (unix ns).
func (c *conn) write(ws *websocket.Conn, frame []byte) (int64, error) {
	if err := ws.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout)); err != nil {
		return 0, err
	}
	if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return 0, err
	}
	written := time.Now().UnixNano()
	c.progress.Store(written)
	c.srv.metrics.countOut(frame)
	return written, nil
}

// abort drops the socket at once (a failed write): the reader then fails
// and cleans up. A write that timed out is a client reading too slowly,
// like a full queue. The connection counts as closing from here, so that
// a Push racing with the abort neither queues for a dead socket nor
// counts the same slow client a second time.
func (c *conn) abort(err error) {
	c.mu.Lock()
	c.writing = false
	ws, closing := c.ws, c.closing
	c.closing = true
	c.mu.Unlock()
	var ne net.Error
	if !closing && errors.As(err, &ne) && ne.Timeout() {
		c.srv.metrics.slowClosed.Inc()
	}
	if ws != nil {
		c.drop(ws)
	}
}

// drop ends the connection from outside its reader: reading is shut down,
// which wakes the reader, parked or polled, to fail and clean up. Closing
// the socket instead would leave a polled connection unnoticed: the
// kernel forgets a closed fd's epoll registration without an event.
//
// Nor is it closed when shutting reading down fails: that is a socket the
// client already reset (a write to it failing is what usually calls drop),
// and closing it could take the reset's epoll event away before the poller
// reads it, leaving the connection open for good, its user a ghost. A
// reset socket reads as failed, so its reader ends on its own.
func (c *conn) drop(ws *websocket.Conn) {
	c.dropped.Store(true)
	tc, ok := ws.NetConn().(*net.TCPConn)
	if ok && (tc.CloseRead() == nil || c.inPoller.Load()) {
		return
	}
	_ = ws.NetConn().Close()
}

// run starts serving the connection after its upgrade: it hands reading
// to the poller, or reads on until the end where there is none.
func (c *conn) run(ws *websocket.Conn, br *bufio.Reader) {
	c.mu.Lock()
	c.ws = ws
	c.startWriterLocked(time.Now().UnixNano())
	c.mu.Unlock()

	ws.SetReadLimit(c.srv.opts.MaxFrameBytes)
	// Control frames are life. gorilla calls these when it meets one
	// inside its own read; readJob handles the usual case before gorilla
	// sees them (see control).
	ws.SetPongHandler(func(string) error {
		c.alive()
		return nil
	})
	ws.SetPingHandler(func(payload string) error {
		c.alive()
		c.pong(ws, []byte(payload))
		return nil
	})
	// presence:connected must be the first frame: answers to what the
	// client sends (heartbeat:ack, errors) wait until it is queued.
	c.ready.Wait()
	c.lastIn.Store(time.Now().UnixNano())
	c.srv.pings.add(c)
	if c.polled(ws, br) {
		c.await(ws)
		return
	}
	for c.readOne(ws) {
	}
	c.finish(ws)
}

// polled prepares the connection for the poller; false when there is no
// poller or the connection is not a socket with a read buffer we own.
func (c *conn) polled(ws *websocket.Conn, br *bufio.Reader) bool {
	sc, ok := ws.NetConn().(syscall.Conn)
	if c.srv.poll == nil || br == nil || !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	c.br, c.raw = br, raw
	c.inPoller.Store(true)
	return true
}

// await arms the poller: the next read job runs when the socket has data.
func (c *conn) await(ws *websocket.Conn) {
	if err := c.srv.poll.arm(c); err != nil {
		c.readFailed(err)
		c.finish(ws)
	}
}

// readJob runs on a worker when the socket is readable: it reads and
// handles every message the read buffer holds (a burst is one job), then
// waits for more, or ends the connection.
func (c *conn) readJob() {
	ws := c.ws
	for {
		if c.dropped.Load() || !c.control(ws) && !c.readOne(ws) {
			c.finish(ws)
			return
		}
		if c.br.Buffered() == 0 && !c.linger() {
			break
		}
	}
	c.await(ws)
}

// lingerFor is how long a read job waits for the next frame before it
// hands the socket back to the poller. Going through the poller costs an
// epoll_ctl and a wake-up on the poller's thread, which on busy cores
// doubled the median send-to-delivery time of a chatting client (5,000
// messages/s); an idle connection heartbeats every 25 s and lingers for
// a hundredth of that.
const lingerFor = 250 * time.Millisecond

// linger waits on the runtime's own poller, briefly, for the socket to
// have data; true when it has (or ended: the read reports that).
func (c *conn) linger() bool {
	nc := c.ws.NetConn()
	if nc.SetReadDeadline(time.Now().Add(lingerFor)) != nil {
		return false
	}
	var peek [1]byte
	err := c.raw.Read(func(fd uintptr) bool {
		// Peek, not read: the bytes are gorilla's. The runtime's poller is
		// edge-triggered, so park only after seeing nothing to read.
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN)
	})
	// gorilla's reads have no deadline: the user actor enforces silence.
	_ = nc.SetReadDeadline(time.Time{})
	return err == nil
}

// The first two bytes of a whole, masked client ping or pong frame.
const (
	pingHeader = 0x80 | websocket.PingMessage
	pongHeader = 0x80 | websocket.PongMessage
	masked     = 0x80
	maskLen    = 4
)

// control handles a ping or pong at the front of the read buffer before
// gorilla sees it; true when it did. gorilla handles a
// control frame inside its read of the next data frame and then reads on,
// so a client keeping its connection alive with pings or pongs alone (a
// browser whose timers are throttled answers our pings all the same) would
// hold a worker, and its stack, until its next data frame. Between two
// messages the buffer is at a frame boundary and gorilla holds no state,
// so taking a whole control frame there is invisible to it. Anything
// unusual (unmasked, too long, cut short) is left to gorilla.
func (c *conn) control(ws *websocket.Conn) bool {
	head, err := c.br.Peek(2)
	if err != nil || head[0] != pingHeader && head[0] != pongHeader || head[1]&masked == 0 {
		return false
	}
	n := int(head[1] &^ masked)
	if n > 125 {
		return false
	}
	// The rest of a control frame is a few bytes behind its head, if not
	// read already: wait for it as gorilla would.
	frame, err := c.br.Peek(2 + maskLen + n)
	if err != nil {
		return false
	}
	ping := frame[0] == pingHeader
	var payload []byte
	if ping && n > 0 {
		key := frame[2 : 2+maskLen]
		payload = make([]byte, n)
		for i, b := range frame[2+maskLen:] {
			payload[i] = b ^ key[i%maskLen]
		}
	}
	_, _ = c.br.Discard(len(frame))
	if !c.limiter.Allow() {
		// A flood of control frames is a frame flood: ignored, then closed.
		if !c.strike() {
			c.closeFlood()
		}
		return true
	}
	c.alive()
	if ping {
		c.pong(ws, payload)
	}
	return true
}

// alive records a control frame from the client as life.
func (c *conn) alive() {
	c.lastIn.Store(time.Now().UnixNano())
	c.sess.Touch()
}

// pong answers a client's ping. A failed write shows in the next read or
// write; a closing connection sends no pong.
func (c *conn) pong(ws *websocket.Conn, payload []byte) {
	if c.isClosing() {
		return
	}
	_ = ws.WriteControl(websocket.PongMessage, payload, time.Now().Add(c.srv.opts.WriteTimeout))
}

// frameBuffers hold a message while it is handled. gorilla's ReadMessage
// reads each into a fresh buffer of at least 512 bytes: a fifth of what an
// idle server allocated (its heartbeats), and so of its collections.
var frameBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledFrame bounds a buffer kept for reuse: frames are small, and one
// large one should not pin its buffer for good.
const maxPooledFrame = 8 << 10

// readOne reads and handles one message; false when the connection ended.
// Nothing handling a frame keeps it (decoding copies what it needs), so its
// buffer is reused.
func (c *conn) readOne(ws *websocket.Conn) bool {
	typ, r, err := ws.NextReader()
	if err != nil {
		c.readFailed(err)
		return false
	}
	buf := frameBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledFrame {
			buf.Reset()
			frameBuffers.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r); err != nil {
		c.readFailed(err)
		return false
	}
	if c.isClosing() {
		return true // waiting for the client's answer to our close frame
	}
	c.lastIn.Store(time.Now().UnixNano())
	if typ != websocket.TextMessage {
		c.srv.metrics.countIn("binary")
		c.Close(websocket.CloseUnsupportedData, "binary frames are not supported")
		return true
	}
	c.admit(buf.Bytes())
	return true
}

// strike counts a frame over the rate. A client is tolerated slightly
// over its rate; one that keeps exceeding it by more than a tenth runs out
// of strikes (false) and is closed. Made on the first offence: most
// connections never commit one.
func (c *conn) strike() bool {
	if c.strikes == nil {
		c.strikes = rate.NewLimiter(rate.Limit(c.srv.opts.RatePerSecond/10), c.srv.opts.RateBurst)
	}
	return c.strikes.Allow()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// admit applies the per-connection rate: over it, a frame is answered
// rate_limited and dropped; a client that keeps flooding is closed.
func (c *conn) admit(frame []byte) {
	switch {
	case c.limiter.Allow():
		c.handle(frame)
	case c.strike():
		_, _, ref, _ := c.srv.decoder.decode(frame)
		c.replyError(ref, messages.Errorf(messages.CodeRateLimited,
			"over %g frames/s; frame dropped", c.srv.opts.RatePerSecond))
	default:
		c.closeFlood()
	}
}

// closeFlood closes a connection that ran out of strikes.
func (c *conn) closeFlood() {
	c.srv.metrics.countError(messages.CodeRateLimited)
	c.Close(actors.ClosePolicy, "rate limit exceeded")
}

func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		c.srv.metrics.countError(messages.CodeTooLarge)
	case errors.As(err, &ce), errors.Is(err, net.ErrClosed):
	default:
		c.srv.log.Debug("connection read ended", "conn_id", c.sess.ID(), "user_id", c.sess.UserID(), "err", err)
	}
}

// finish runs when the reader ends: the actors forget the connection and
// the socket is closed.
func (c *conn) finish(ws *websocket.Conn) {
	c.mu.Lock()
	c.closing, c.closed = true, true
	c.queue = nil
	c.unwritten.Store(0)
	c.mu.Unlock()
	c.srv.pings.remove(c)
	c.sess.Close()
	c.srv.poll.forget(c)
	_ = ws.Close()
	c.srv.metrics.connections.Dec()
	c.srv.capacity.give()
	c.srv.conns.Done()
}
