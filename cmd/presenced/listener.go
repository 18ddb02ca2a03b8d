package main

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// watchedListener tells the operator when accepting fails for want of file
// descriptors. net/http retries such an accept on its own and logs it only
// through the server's ErrorLog, kept at debug for the handshake noise of
// the internet; yet a process out of descriptors serves nobody new, its
// health checks included.
type watchedListener struct {
	net.Listener
	log    *slog.Logger
	warned atomic.Int64 // unix ns of the last warning: one a minute at most
	now    func() time.Time
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && outOfFiles(err) {
		now := l.now().UnixNano()
		if last := l.warned.Load(); now-last >= int64(time.Minute) && l.warned.CompareAndSwap(last, now) {
			l.log.Warn("out of file descriptors: new connections wait in the listen backlog; raise the open-file limit or add a member", "err", err)
		}
	}
	return c, err
}
