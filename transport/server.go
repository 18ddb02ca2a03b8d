package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/workpool"
	"github.com/presenced/presenced/messages"
)

// Options configure the transport. A zero field means the default its
// comment names.
type Options struct {
	Auth AuthOptions
	// AllowedOrigins are browser origins allowed on /ws besides the same
	// host; "*" allows any. Requests without Origin (non-browsers) pass.
	AllowedOrigins []string
	// MaxFrameBytes closes a connection sending a larger frame (64 KiB).
	MaxFrameBytes int64
	// MaxMessageBytes bounds message content (4096).
	MaxMessageBytes int
	// MaxSubscriptions bounds one presence:subscribe (1000).
	MaxSubscriptions int
	// RatePerSecond and RateBurst bound frames per connection (50, 100).
	RatePerSecond float64
	RateBurst     int
	// SendQueue is the frames queued to a slow connection before it is
	// closed (256).
	SendQueue int
	// PingInterval is how long a connection may be quiet before it is
	// pinged (27.5s). Between the heartbeat interval and the heartbeat
	// timeout: later than a heartbeating client's next frame, early
	// enough for the pong to beat the timeout.
	PingInterval time.Duration
	// WriteTimeout bounds one write to a client (10s).
	WriteTimeout time.Duration
	// MaxConnections bounds the WebSocket connections held at once; an
	// upgrade beyond it is refused with 429 limit_exceeded. 0: no bound
	// (cmd/presenced derives one from the process's open-file limit).
	MaxConnections int
	// UI, when set, serves the dashboard: GET / and GET /ui/... are handed
	// to it unchanged.
	UI http.Handler
	// AuthMode and Visibility are reported by GET /v1/info, so that a
	// dashboard knows how to log in; "all" or "contacts".
	Visibility string
	// MetricsEnabled serves /metrics from Gatherer.
	MetricsEnabled bool
	Gatherer       prometheus.Gatherer
	Registerer     prometheus.Registerer
	// Logger discards when nil.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = 64 << 10
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = 50
	}
	setInt(&o.MaxMessageBytes, 4096)
	setInt(&o.MaxSubscriptions, 1000)
	setInt(&o.RateBurst, 100)
	setInt(&o.SendQueue, 256)
	setDur(&o.PingInterval, 27500*time.Millisecond)
	setDur(&o.WriteTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves the WebSocket endpoint and the HTTP API of one member.
type Server struct {
	opts     Options
	engine   *actors.Engine
	log      *slog.Logger
	auth     *authenticator
	decoder  *decoder
	upgrader websocket.Upgrader
	metrics  *metrics
	mux      *http.ServeMux
	pings    *pinger
	work     *workpool.Pool
	poll     *poller // nil where there is none: connections read on goroutines
	capacity capacity

	// conns counts the connections whose reading side has not finished,
	// so that Wait can wait for them.
	conns sync.WaitGroup
}

// New builds a Server on an engine.
func New(opts Options, engine *actors.Engine) (*Server, error) {
	opts.setDefaults()
	auth, err := newAuthenticator(opts.Auth)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &Server{
		opts:    opts,
		engine:  engine,
		log:     opts.Logger,
		auth:    auth,
		decoder: &decoder{maxMessageBytes: opts.MaxMessageBytes, maxSubscriptions: opts.MaxSubscriptions},
		metrics: newMetrics(opts.Registerer, engine),
	}
	s.capacity.max = int64(max(opts.MaxConnections, 0))
	s.metrics.capacity.Set(float64(s.capacity.max))
	s.upgrader = websocket.Upgrader{
		// 0: reuse the reader our hijacker hands over (see park.go).
		ReadBufferSize:  0,
		WriteBufferSize: 4096,
		// Write buffers are only held while a frame is written, so that an
		// idle connection costs none.
		WriteBufferPool:  &sync.Pool{},
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(*http.Request) bool { return true }, // checked before, with a 403
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, messages.CodeInvalidPayload, reason.Error())
		},
	}
	s.routes()
	s.work = workpool.New()
	if s.poll, err = newPoller(s.work, s.log); err != nil {
		// Not fatal: connections then read on a goroutine each.
		s.log.Warn("no poller for idle connections", "err", err)
	}
	s.pings = newPinger(s)
	go s.pings.run()
	return s, nil
}

// Handler is the HTTP handler of the server.
func (s *Server) Handler() http.Handler { return s.mux }

// Wait blocks until every connection goroutine has ended, or ctx ends, and
// stops the server's own. Call it after Engine.Shutdown has closed the
// connections.
func (s *Server) Wait(ctx context.Context) error {
	s.pings.close()
	done := make(chan struct{})
	go func() { s.conns.Wait(); s.poll.close(); s.work.Close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for connections to close: %w", ctx.Err())
	}
}

// serveWS authenticates an upgrade request, registers the connection with
// the actors, and upgrades. Every refusal is an HTTP answer with a JSON body.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.metrics.countError(messages.CodeForbidden)
		writeError(w, http.StatusForbidden, messages.CodeForbidden, "origin not allowed")
		return
	}
	id, ok := s.identify(w, r)
	if !ok {
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, messages.CodeInvalidPayload, "expected a WebSocket upgrade")
		return
	}
	if !s.capacity.take() {
		s.refuseFull(w)
		return
	}
	c := newConn(s)
	sess, err := s.engine.Connect(r.Context(), id.UserID, id.Role, c)
	if err != nil {
		s.capacity.give()
		s.fail(w, err)
		return
	}
	c.sess = sess
	hj := &hijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		s.capacity.give()
		sess.Close() // the upgrader already answered
		return
	}
	s.metrics.connections.Inc()
	s.conns.Add(1)
	// On the handler's goroutine: with a poller it returns once the
	// connection is armed.
	c.run(ws, hj.br)
}

// refuseFull answers an upgrade the server has no room for. Retry-After
// spreads the retries of a crowd refused together over a few seconds.
func (s *Server) refuseFull(w http.ResponseWriter) {
	s.metrics.refused.Inc()
	s.metrics.countError(messages.CodeLimitExceeded)
	if s.capacity.warned.open(time.Now()) {
		s.log.Warn("connection capacity reached: refusing upgrades", "capacity", s.capacity.max)
	}
	w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(5)))
	writeError(w, http.StatusTooManyRequests, messages.CodeLimitExceeded, "the server holds all the connections it can; retry later")
}

// originAllowed: no Origin (not a browser), the same host, or a listed one.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, allowed := range s.opts.AllowedOrigins {
		if allowed == "*" || strings.EqualFold(strings.TrimRight(allowed, "/"), origin) {
			return true
		}
	}
	return false
}

// fail answers an HTTP request with the error's code and status.
func (s *Server) fail(w http.ResponseWriter, err error) {
	code, msg := s.clientError(err)
	writeError(w, httpStatus(code), code, msg)
}

// clientError counts an error answered to a client and returns what the
// client is told: its code and a message safe to show. Internal errors are
// logged here with their details and attrs, since the client only learns
// the code.
func (s *Server) clientError(err error, attrs ...any) (messages.Code, string) {
	code := messages.CodeOf(err)
	s.metrics.countError(code)
	var ce *messages.Error
	switch {
	case errors.As(err, &ce):
		return code, ce.Message
	case code == messages.CodeInternal:
		s.log.Error("request failed", append(attrs, "err", err)...)
		return code, "internal error"
	}
	return code, string(code)
}

// identify authenticates a request, answering 401 when it fails.
func (s *Server) identify(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	id, err := s.auth.identify(r)
	if err != nil {
		s.metrics.countError(err.Code)
		writeError(w, http.StatusUnauthorized, err.Code, err.Message)
		return id, false
	}
	return id, true
}

func httpStatus(code messages.Code) int {
	switch code {
	case messages.CodeBadJSON, messages.CodeUnknownType, messages.CodeInvalidPayload:
		return http.StatusBadRequest
	case messages.CodeUnauthorized:
		return http.StatusUnauthorized
	case messages.CodeForbidden:
		return http.StatusForbidden
	case messages.CodeNotFound:
		return http.StatusNotFound
	case messages.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case messages.CodeRateLimited, messages.CodeLimitExceeded:
		return http.StatusTooManyRequests
	case messages.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
