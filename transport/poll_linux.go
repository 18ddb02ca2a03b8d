package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/presenced/presenced/internal/workpool"
)

// poller watches the sockets of idle connections with one epoll instance
// and one goroutine, in place of a parked goroutine per connection. A
// connection is armed one-shot: when its socket has data (or ends) the
// poller runs its read job on a worker, and the job arms it again once
// the read buffer is drained. One-shot keeps two jobs of one connection
// from ever running at once; re-arming reports data that arrived while
// the job ran, since epoll checks readiness when an fd is modified.
//
// Events carry a token, not the fd: an fd number is reused as soon as a
// socket is closed, a token only after 2^31 connections.
type poller struct {
	epfd int
	wake int // an eventfd: written by close to stop run
	work *workpool.Pool
	log  *slog.Logger
	done chan struct{}

	mu    sync.Mutex
	conns map[int32]*conn
	next  int32
}

// wakeToken marks the eventfd's events.
const wakeToken = 0

func newPoller(work *workpool.Pool, log *slog.Logger) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeToken}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(wake)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	p := &poller{epfd: epfd, wake: wake, work: work, log: log, done: make(chan struct{}), conns: make(map[int32]*conn)}
	go p.run()
	return p, nil
}

// run is the poller's goroutine, owned by the Server: close stops it. It
// spends its life in epoll_wait, a blocking system call; the runtime hands
// its processor to other goroutines meanwhile.
func (p *poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not expected with a valid epfd and buffer; without the poller
			// no idle connection would ever be read again.
			p.log.Error("epoll_wait failed; idle connections are no longer read", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == wakeToken {
				return
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				c.armed.Load() // see arm
				p.work.Go(c.readJob)
			}
		}
	}
}

// arm asks for c's read job once its socket is readable, registering c on
// its first call. Only c's reading side calls it, never two at once.
func (p *poller) arm(c *conn) error {
	op := unix.EPOLL_CTL_MOD
	if c.token == 0 {
		op = unix.EPOLL_CTL_ADD
		c.token = p.register(c)
	}
	// The event that runs the next job comes through the kernel, which
	// orders this job before the next in fact but not in Go's memory
	// model (nor for the race detector): this store, loaded by run before
	// it starts the job, does.
	c.armed.Add(1)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: c.token}
	var err error
	if cerr := c.raw.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func (p *poller) register(c *conn) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.next++
		if p.next <= wakeToken {
			p.next = wakeToken + 1
		}
		if _, taken := p.conns[p.next]; !taken {
			p.conns[p.next] = c
			return p.next
		}
	}
}

// forget stops watching c; it runs before c's socket is closed, while its
// fd still names it.
func (p *poller) forget(c *conn) {
	if p == nil || c.token == 0 {
		return
	}
	_ = c.raw.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.mu.Lock()
	delete(p.conns, c.token)
	p.mu.Unlock()
}

// close stops the poller once the connections are gone.
func (p *poller) close() {
	if p == nil {
		return
	}
	one := [8]byte{1}
	if _, err := unix.Write(p.wake, one[:]); err == nil {
		<-p.done
	}
	_ = unix.Close(p.wake)
	_ = unix.Close(p.epfd)
}
