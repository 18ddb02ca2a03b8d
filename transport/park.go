package transport

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// An idle connection costs no goroutine. A goroutine parked in a read
// holds a stack of at least 2 KiB (4 KiB inside gorilla's read path), a
// fifth of what a whole idle connection may cost here. So on Linux one
// poller (poll_linux.go) watches every idle socket with epoll and, when
// one has data, runs gorilla's read and the handling on a pooled worker;
// the connection is then armed again. Elsewhere a goroutine per connection
// reads, blocking.
//
// To hand a connection back to the poller the reader must know that
// gorilla has no frame buffered already, so the connection's read buffer
// is ours: the upgrade is given a Hijack that returns a bufio.Reader we
// keep, which gorilla then reuses (Upgrader.ReadBufferSize is 0).

// readBufferSize is the bufio.Reader each connection reads through, held
// for the connection's life. Frames are small; a larger one takes several
// fills. gorilla reuses the reader only when it is over 256 bytes.
const readBufferSize = 320

// hijacker lets the upgrade hijack the connection through buffers we own.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader // set by Hijack; nil when gorilla uses its own
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response does not implement http.Hijacker")
	}
	conn, brw, err := hj.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return conn, brw, err // gorilla refuses data sent before the handshake
	}
	h.br = bufio.NewReaderSize(conn, readBufferSize)
	// The server's writer is kept: gorilla only borrows its buffer to build
	// the handshake response, which it writes to conn itself, and writes
	// frames through its pooled buffers.
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}
