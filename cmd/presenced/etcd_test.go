package main

import (
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/wstest"
)

// startEtcd runs a one-node etcd from Debian's etcd-server package on
// loopback for the test, and returns its client endpoint.
func startEtcd(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd is not installed; the etcd membership test needs it: apt-get install -y etcd-server")
	}
	client := "127.0.0.1:" + strconv.Itoa(freePort(t))
	peer := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "--name", "test", "--data-dir", t.TempDir(),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--log-level", "error")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", client); err == nil {
			c.Close()
			return client
		}
		if time.Now().After(deadline) {
			t.Fatal("etcd did not start listening")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterWithEtcdMembership forms a cluster through etcd, shows
// presence across its members, and turns the users of a killed member
// offline within the bound.
func TestClusterWithEtcdMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and two processes (-short)")
	}
	etcd := startEtcd(t)
	url := pgtest.URL(t)
	flags := []string{"--set", "store.driver=postgres", "--set", "store.postgres.url=" + url,
		"--set", "cluster.enabled=true", "--set", "cluster.provider=etcd",
		"--set", "cluster.etcd.endpoints=" + etcd, "--set", "cluster.host=127.0.0.1"}
	m1 := startProc(t, flags...)
	m2 := startProc(t, flags...)
	m1.waitMembers(t, 2)
	m2.waitMembers(t, 2)

	viewer := watch(m1.dial(t, "ops", "ADMIN"))
	m2.dial(t, "far", "CLIENT")
	viewer.until(t, "far", "active", wstest.Wait)

	if err := m2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	viewer.until(t, "far", "offline", ghostBound)
	t.Logf("offline %v after the kill (etcd lease expiry + grace)", time.Since(killed))
}
