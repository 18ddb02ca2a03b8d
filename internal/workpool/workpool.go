// Package workpool runs short jobs on goroutines that outlive them. A job
// goes to an idle worker if there is one, else to a new one, so the pool
// grows with the load and shrinks when it passes. Workers keep the stacks
// they grew: a job does not pay for growing a fresh goroutine's stack each
// time, which under load costs more than the job (copying stacks was 15% of
// the server's CPU under message load).
//
// The most recently idle worker takes the next job. Handed out in turn
// (as a shared channel does), a steady trickle of jobs (heartbeats of
// 10,000 idle connections) kept every worker of the last burst busy often
// enough that none ever idled out, each holding its grown stack.
package workpool

import (
	"slices"
	"sync"
	"time"
)

// idleFor is how long an idle worker waits for more work before it exits.
const idleFor = 10 * time.Second

// Pool is a pool of workers. The zero value is not usable: call New.
type Pool struct {
	idleFor time.Duration

	mu     sync.Mutex
	idle   []*worker // a stack: the last one idle is the first to work
	live   int       // workers, idle or not
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

type worker struct {
	jobs chan func() // one slot: a worker is handed a job only while idle
}

// New returns an empty pool.
func New() *Pool {
	return &Pool{idleFor: idleFor, stop: make(chan struct{})}
}

// Go starts job on a worker. It never blocks.
func (p *Pool) Go(job func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.jobs <- job
		return
	}
	p.wg.Add(1)
	p.live++
	p.mu.Unlock()
	go p.work(&worker{jobs: make(chan func(), 1)}, job)
}

func (p *Pool) work(w *worker, job func()) {
	defer p.wg.Done()
	idle := time.NewTimer(p.idleFor)
	defer idle.Stop()
	for {
		job()
		p.mu.Lock()
		if p.closed {
			p.live--
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		idle.Reset(p.idleFor)
		select {
		case job = <-w.jobs:
			continue
		case <-idle.C:
		case <-p.stop:
		}
		if p.retire(w) {
			return
		}
		job = <-w.jobs // taken off the stack meanwhile: its job is on the way
	}
}

// retire takes an idle worker off the stack; false when Go already took
// it to hand it a job.
func (p *Pool) retire(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.idle, w) // the longest idle are at the bottom
	if i < 0 {
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.live--
	return true
}

// Close stops idle workers and waits for busy ones to finish their job;
// Go must not be called after.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
