//go:build unix

package transport

import (
	"bufio"
	"errors"
	"net"
	"syscall"
)

func newParker(br *bufio.Reader, conn net.Conn) *parker {
	sc, ok := conn.(syscall.Conn)
	if !ok || br == nil {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &parker{br: br, raw: raw}
}

// wait returns when a read would not block: data is buffered already, or
// the socket has data, or it was closed or failed (the read reports it).
// It honours the connection's read deadline.
func (p *parker) wait() error {
	if p == nil || p.br.Buffered() > 0 {
		return nil
	}
	return p.raw.Read(func(fd uintptr) bool {
		// Peek, not read: the bytes are for gorilla. The runtime's poller
		// is edge-triggered, so park only after seeing nothing to read.
		_, _, err := syscall.Recvfrom(int(fd), p.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN)
	})
}
