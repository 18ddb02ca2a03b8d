//go:build !unix

package transport

// wait does not park elsewhere than on unix: gorilla's read parks instead.
func (p *parker) wait() error { return nil }
