package workpool

import (
	"sync"
	"testing"
	"time"
)

func (p *Pool) workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// After a burst, a trickle of jobs is served by the few most recently idle
// workers, and the rest of the burst's workers exit.
func TestSurplusWorkersRetireUnderATrickle(t *testing.T) {
	p := New()
	p.idleFor = 100 * time.Millisecond
	defer p.Close()

	const burst = 50
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(burst)
	for range burst {
		p.Go(func() { started.Done(); <-release })
	}
	started.Wait()
	if n := p.workers(); n != burst {
		t.Fatalf("%d workers for %d blocked jobs", n, burst)
	}
	close(release)

	// A job every 5 ms: every worker would see one well within idleFor if
	// they were handed out in turn.
	deadline := time.Now().Add(5 * time.Second)
	for p.workers() > 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still alive for a trickle of one job at a time", p.workers())
		}
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseWaitsForBusyWorkers(t *testing.T) {
	p := New()
	finished := make(chan struct{})
	started := make(chan struct{})
	p.Go(func() {
		close(started)
		time.Sleep(20 * time.Millisecond)
		close(finished)
	})
	<-started
	p.Close()
	select {
	case <-finished:
	default:
		t.Fatal("Close returned before a busy job finished")
	}
	if n := p.workers(); n != 0 {
		t.Fatalf("%d workers left after Close", n)
	}
}

// Idle workers wait on nothing but their own channel: Close must reach
// them, or it would wait for them forever.
func TestCloseEndsIdleWorkers(t *testing.T) {
	p := New()
	var wg sync.WaitGroup
	wg.Add(10)
	for range 10 {
		p.Go(func() { time.Sleep(time.Millisecond); wg.Done() })
	}
	wg.Wait()
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close still waiting on %d idle workers", p.workers())
	}
	if n := p.workers(); n != 0 {
		t.Fatalf("%d workers left after Close", n)
	}
}

// BenchmarkFanOut hands out short jobs from one goroutine, as a presence
// change queues a frame for each of thousands of connections: what the
// pool costs per job beyond the job.
func BenchmarkFanOut(b *testing.B) {
	p := New()
	defer p.Close()
	var wg sync.WaitGroup
	job := func() { wg.Done() }
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1000)
		for range 1000 {
			p.Go(job)
		}
		wg.Wait()
	}
}
