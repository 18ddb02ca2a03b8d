//go:build unix

package main

import "syscall"

// openFileLimit is the process's open-file limit: the soft limit, which the
// Go runtime raises to the hard one at start. An unlimited one reads as
// a bound no process reaches.
func openFileLimit() (int, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	return int(min(lim.Cur, 1<<30)), true
}
