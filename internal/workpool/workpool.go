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

	mu      sync.Mutex
	idle    []*worker // a stack: the last one idle is the first to work
	live    int       // workers, idle or not
	closed  bool
	reaping bool // the reaper runs
	stop    chan struct{}
	wg      sync.WaitGroup
}

// A worker waits on its own channel alone: a worker going idle after each
// job (a fan-out hands out thousands of one-write jobs) paid for a select
// over its jobs, a timer of its own reset every time, and the pool's stop
// (a third of the pool's cost per job). One reaper retires idle workers
// instead.
type worker struct {
	jobs  chan func() // one slot: a job while idle, or nil to exit
	since time.Time   // idle since, while on the stack
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
	if !p.reaping && !p.closed {
		p.reaping = true
		p.wg.Add(1)
		go p.reap()
	}
	p.wg.Add(1)
	p.live++
	p.mu.Unlock()
	go p.work(&worker{jobs: make(chan func(), 1)}, job)
}

func (p *Pool) work(w *worker, job func()) {
	defer p.wg.Done()
	for job != nil {
		job()
		p.mu.Lock()
		if p.closed {
			p.live--
			p.mu.Unlock()
			return
		}
		w.since = time.Now()
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		job = <-w.jobs
	}
}

// reap retires, every half of idleFor, the workers idle for idleFor: a
// worker exits between idleFor and 1.5 idleFor after its last job.
func (p *Pool) reap() {
	defer p.wg.Done()
	tick := time.NewTicker(p.idleFor / 2)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			p.retire(now)
		}
	}
}

// retire tells the workers idle since before now - idleFor to exit. The
// stack is in the order workers went idle, the longest idle at the bottom.
func (p *Pool) retire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].since) >= p.idleFor {
		n++
	}
	p.exitLocked(p.idle[:n])
	p.idle = slices.Delete(p.idle, 0, n)
}

// exitLocked tells idle workers, already off the stack or about to be, to
// exit. Their slot is empty: nothing is handed to a worker off the stack.
func (p *Pool) exitLocked(ws []*worker) {
	for _, w := range ws {
		w.jobs <- nil
		p.live--
	}
}

// Close stops idle workers and waits for busy ones to finish their job;
// Go must not be called after.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
		p.exitLocked(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}
