// Package workpool runs short jobs on goroutines that outlive them. A job
// goes to an idle worker if there is one, else to a new one, so the pool
// grows with the load and shrinks when it passes. Workers keep the stacks
// they grew: a job does not pay for growing a fresh goroutine's stack each
// time, which under load costs more than the job (copying stacks was 15% of
// the server's CPU under message load).
package workpool

import (
	"sync"
	"time"
)

// idleFor is how long an idle worker waits for more work before it exits.
const idleFor = 10 * time.Second

// Pool is a pool of workers. The zero value is not usable: call New.
type Pool struct {
	jobs chan func()
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// New returns an empty pool.
func New() *Pool {
	return &Pool{jobs: make(chan func()), stop: make(chan struct{})}
}

// Go starts job on a worker. It never blocks.
func (w *Pool) Go(job func()) {
	select {
	case w.jobs <- job:
	default:
		w.wg.Add(1)
		go w.work(job)
	}
}

func (w *Pool) work(job func()) {
	defer w.wg.Done()
	idle := time.NewTimer(idleFor)
	defer idle.Stop()
	for {
		job()
		idle.Reset(idleFor)
		select {
		case job = <-w.jobs:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// Close stops idle workers and waits for busy ones to finish their job;
// Go must not be called after.
func (w *Pool) Close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}
