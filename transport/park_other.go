//go:build !unix

package transport

import (
	"bufio"
	"net"
)

// newParker gives no parker elsewhere than on unix, where there is no
// peeking at a socket: the reader then parks inside gorilla's read.
func newParker(*bufio.Reader, net.Conn) *parker { return nil }

// wait is never called: run reads inline without a parker.
func (p *parker) wait() error { return nil }
