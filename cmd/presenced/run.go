package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/persistence"
	"github.com/presenced/presenced/transport"
	"github.com/presenced/presenced/web"
)

// run serves until ctx ends, then drains: stop accepting, close every
// connection with 1012, flush the store, all within shutdown.drain_timeout.
// started, when set, is told the listening address (tests listen on :0).
func run(ctx context.Context, cfg *config.Config, logOut io.Writer, started func(addr string)) error {
	log := newLogger(cfg.Log, logOut)
	authOpts, err := authOptions(cfg.Auth)
	if err != nil {
		return err
	}
	// Before the store: a refused cluster setting is a configuration
	// error (exit 2), not to be hidden behind connecting to Postgres.
	clusterOpts, err := clusterOptions(cfg.Cluster)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Read once: the transport enforces it, the start-up line states it.
	maxConns := connectionCapacity(openFileLimit())
	eopts := engineOptions(cfg, store, log, reg)
	eopts.Cluster = clusterOpts
	engine, err := actors.New(eopts)
	if err != nil {
		return fmt.Errorf("starting actors: %w", err)
	}
	srv, err := transport.New(transportOptions(cfg, authOpts, maxConns, log, reg), engine)
	if err != nil {
		_ = engine.Shutdown(context.Background())
		return &config.Error{Key: "auth", Problem: err.Error()}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = engine.Shutdown(context.Background())
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(transport.WatchAccepts(ln, log)) }()
	announce(log, cfg, ln.Addr().String(), maxConns)
	if started != nil {
		started(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down: draining connections", "timeout", cfg.Shutdown.DrainTimeout)
	case err := <-serveErr:
		log.Error("server stopped", "err", err)
	}
	return drain(log, cfg.Shutdown.DrainTimeout, httpSrv, engine, srv)
}

// drain stops accepting, tells every client to reconnect, stops the actors
// after their last writes reached the store, and waits for connections.
func drain(log *slog.Logger, timeout time.Duration, httpSrv *http.Server, engine *actors.Engine, srv *transport.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if err := httpSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stopping HTTP: %w", err))
	}
	if err := engine.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stopping actors: %w", err))
	}
	if err := srv.Wait(ctx); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err == nil {
		log.Info("drained; bye")
	}
	return err
}

func announce(log *slog.Logger, cfg *config.Config, addr string, maxConns int) {
	log.Info("presenced listening", "addr", addr, "store", cfg.Store.Driver, "auth", cfg.Auth.Mode,
		"visibility", cfg.Presence.Visibility, "max_connections", maxConns)
	if cfg.Auth.Mode == config.AuthDev {
		log.Warn("dev auth: anyone can connect as anyone; never expose this")
		log.Info("connect a client", "websocket", "ws://"+addr+"/ws?user=alice&role=CLIENT",
			"presence", "http://"+addr+"/v1/presence/alice?user=bob&role=ADMIN")
	}
}

func newLogger(c config.Log, out io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

func openStore(ctx context.Context, c config.Store, log *slog.Logger) (actors.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch c.Driver {
	case config.StorePostgres:
		s, err := persistence.OpenPostgres(ctx, c.Postgres.URL, log)
		if err != nil {
			return nil, fmt.Errorf("opening postgres store: %w", err)
		}
		return s, nil
	default:
		s, err := persistence.OpenSQLite(ctx, c.SQLite.Path, log)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite store %s: %w", c.SQLite.Path, err)
		}
		return s, nil
	}
}

func authOptions(c config.Auth) (transport.AuthOptions, error) {
	o := transport.AuthOptions{
		Mode: c.Mode, Secret: []byte(c.JWT.Secret), Issuer: c.JWT.Issuer, Audience: c.JWT.Audience,
	}
	if c.JWT.PublicKeyFile != "" {
		pem, err := os.ReadFile(c.JWT.PublicKeyFile)
		if err != nil {
			return o, &config.Error{Key: "auth.jwt.public_key_file", Problem: err.Error()}
		}
		o.PublicKeyPEM = pem
	}
	return o, nil
}

func engineOptions(cfg *config.Config, store actors.Store, log *slog.Logger, reg prometheus.Registerer) actors.Options {
	vis := actors.VisibilityContacts
	if cfg.Presence.Visibility == "all" {
		vis = actors.VisibilityAll
	}
	return actors.Options{
		HeartbeatInterval:     cfg.Presence.HeartbeatInterval,
		HeartbeatTimeout:      cfg.Presence.HeartbeatTimeout,
		OfflineGrace:          cfg.Presence.OfflineGrace,
		CoalesceWindow:        cfg.Presence.CoalesceWindow,
		Visibility:            vis,
		MaxSubscriptions:      cfg.Presence.MaxSubscriptions,
		MaxConnectionsPerUser: cfg.Limits.MaxConnectionsPerUser,
		MaxMessageBytes:       cfg.Limits.MaxMessageBytes,
		Store:                 store,
		Logger:                log,
		Registerer:            reg,
	}
}

// pingAfter is how long a connection may be quiet before it is pinged:
// halfway from the heartbeat interval to the timeout, so that a client
// heartbeating in time is never pinged and one whose heartbeat runs late
// still answers before the timeout.
func pingAfter(interval, timeout time.Duration) time.Duration {
	return interval + (timeout-interval)/2
}

// connectionCapacity is how many WebSocket connections a process with an
// open-file limit of limit takes: the rest, 2% and at least 128, stays for
// what else needs a descriptor (the store's files and connections, the
// cluster's, HTTP API clients, /healthz and /metrics scrapes, the poller).
// 0, no bound, when the limit is unknown or too small to leave a reserve.
func connectionCapacity(limit int, known bool) int {
	reserve := max(128, limit/50)
	if !known || limit <= 2*reserve {
		return 0
	}
	return limit - reserve
}

func transportOptions(cfg *config.Config, auth transport.AuthOptions, maxConns int, log *slog.Logger, reg *prometheus.Registry) transport.Options {
	return transport.Options{
		Auth:             auth,
		AllowedOrigins:   cfg.Auth.AllowedOrigins,
		MaxFrameBytes:    cfg.Limits.MaxFrameBytes,
		MaxMessageBytes:  cfg.Limits.MaxMessageBytes,
		MaxSubscriptions: cfg.Presence.MaxSubscriptions,
		RatePerSecond:    cfg.Limits.RatePerSecond,
		RateBurst:        cfg.Limits.RateBurst,
		SendQueue:        cfg.Limits.SendQueue,
		MaxConnections:   maxConns,
		Visibility:       cfg.Presence.Visibility,
		PingInterval:     pingAfter(cfg.Presence.HeartbeatInterval, cfg.Presence.HeartbeatTimeout),
		MetricsEnabled:   cfg.Metrics.Enabled,
		Gatherer:         reg,
		Registerer:       reg,
		Logger:           log,
		UI:               web.Handler(),
	}
}
