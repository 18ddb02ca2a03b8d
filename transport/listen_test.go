package transport

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failingListener fails every accept as a process out of descriptors does.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) {
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

func TestRunningOutOfDescriptorsIsWarnedOnceAMinute(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	l := &watchedListener{
		Listener: failingListener{},
		log:      slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})),
		now:      func() time.Time { return now },
	}
	accept := func() {
		if _, err := l.Accept(); err == nil {
			t.Fatal("accept succeeded, want the listener's error")
		}
	}
	for range 1000 { // net/http retries in a tight loop
		accept()
	}
	now = now.Add(59 * time.Second)
	accept()
	if n := strings.Count(out.String(), "out of file descriptors"); n != 1 {
		t.Fatalf("%d warnings within a minute, want 1:\n%s", n, out.String())
	}
	now = now.Add(time.Second)
	accept()
	if n := strings.Count(out.String(), "out of file descriptors"); n != 2 {
		t.Fatalf("%d warnings after a minute, want 2:\n%s", n, out.String())
	}
}
