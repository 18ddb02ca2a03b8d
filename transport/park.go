package transport

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"syscall"
)

// An idle connection is a goroutine parked until its client sends
// something. Parked inside gorilla's read, its stack stays as deep as that
// read path (4 KiB per connection); parked here, on a shallow stack that
// the runtime shrinks to its 2 KiB minimum, before gorilla is asked to read
// what has arrived. That halves the cost of an idle connection's stack.
//
// To park safely the reader must know that gorilla has no frame buffered
// already, so the connection's read buffer is ours: the upgrade is given a
// Hijack that returns a bufio.Reader we keep, which gorilla then reuses
// (Upgrader.ReadBufferSize is 0).

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

// parker waits for a connection's socket to have data.
type parker struct {
	br   *bufio.Reader
	raw  syscall.RawConn
	peek [1]byte
}
