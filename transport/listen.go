package transport

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// WatchAccepts wraps a listener so that accepts failing for want of file
// descriptors are warned about, once a minute. net/http retries such an
// accept on its own and logs it only through the server's ErrorLog, kept
// at debug for the handshake noise of the internet; yet a process out of
// descriptors serves nobody new, its health checks included.
func WatchAccepts(ln net.Listener, log *slog.Logger) net.Listener {
	return &watchedListener{Listener: ln, log: log, now: time.Now}
}

type watchedListener struct {
	net.Listener
	log    *slog.Logger
	warned minuteGate
	now    func() time.Time
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && outOfFiles(err) && l.warned.open(l.now()) {
		l.log.Warn("out of file descriptors: new connections wait in the listen backlog; raise the open-file limit or add a member", "err", err)
	}
	return c, err
}

// outOfFiles reports whether err is the process or the system running out
// of file descriptors.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
