package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A run is one coordinator and N workers. The coordinator (the process the
// user started) only coordinates: it starts the workers, releases them
// through named barriers, relays presence change notes between them,
// samples the server, prints progress, and merges their partial results.
// Each worker opens its share of the connections and measures.
//
// With --procs 1 the only worker runs in the coordinator's process on a
// goroutine; otherwise each worker is this program started again with the
// hidden --worker flag, and the two talk in JSON lines: the worker's stdout
// carries workerMsgs, its stdin coordMsgs, its stderr goes to the user.
// Every worker message of one worker arrives in order, and the coordinator
// relays notes before it releases a barrier, so a worker released from a
// barrier has every note sent before any worker reached it.

// workerMsg goes from a worker to the coordinator.
type workerMsg struct {
	Kind    string           `json:"kind"` // progress, barrier, note, result, fatal
	Counts  map[string]int64 `json:"counts,omitempty"`
	Barrier string           `json:"barrier,omitempty"`
	Note    *note            `json:"note,omitempty"`
	Result  *Partial         `json:"result,omitempty"`
	Err     string           `json:"err,omitempty"`
}

// coordMsg goes from the coordinator to a worker.
type coordMsg struct {
	Kind    string `json:"kind"` // release, note
	Barrier string `json:"barrier,omitempty"`
	Note    *note  `json:"note,omitempty"`
}

// note says that a worker made a presence change: Key names it (see
// changeKey), At is when, in unix nanoseconds of this machine's clock, so
// that workers in other processes can time its arrival.
type note struct {
	Key  string `json:"key"`
	At   int64  `json:"at"`
	Kind string `json:"kind"` // connect, disconnect, focus, blur
}

// workerSpec is what a worker is told: the run and its place in it.
type workerSpec struct {
	Config *Config `json:"config"`
	Index  int     `json:"index"`
	Count  int     `json:"count"`
}

// worker is one worker's view of the run. Its fields are set before the
// scenario starts and not changed after, except through the locked ones.
type worker struct {
	cfg      *Config
	index    int
	count    int
	cnt      *counters
	id       identity
	api      *api
	endpoint *url.URL
	pool     *sourcePool
	emit     func(workerMsg) // to the coordinator; safe for concurrent use

	mu       sync.Mutex
	released map[string]chan struct{}
	onNote   func(note) // relayed notes of other workers; set by the scenario
}

// share returns this worker's part [lo, hi) of n items.
func (w *worker) share(n int) (lo, hi int) {
	return n * w.index / w.count, n * (w.index + 1) / w.count
}

// shareF returns this worker's part of an amount (a rate).
func (w *worker) shareF(x float64) float64 {
	lo, hi := w.share(1_000_000)
	return x * float64(hi-lo) / 1_000_000
}

// barrier tells the coordinator that this worker reached name and waits
// until every worker has.
func (w *worker) barrier(ctx context.Context, name string) error {
	ch := w.releaseChan(name)
	w.emit(workerMsg{Kind: "barrier", Barrier: name, Counts: w.cnt.snapshot()})
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting at barrier %s: %w", name, ctx.Err())
	}
}

func (w *worker) releaseChan(name string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.released[name]
	if !ok {
		ch = make(chan struct{})
		w.released[name] = ch
	}
	return ch
}

// setOnNote installs the handler of other workers' notes.
func (w *worker) setOnNote(f func(note)) {
	w.mu.Lock()
	w.onNote = f
	w.mu.Unlock()
}

// deliver handles one message from the coordinator.
func (w *worker) deliver(m coordMsg) {
	switch m.Kind {
	case "release":
		close(w.releaseChan(m.Barrier))
	case "note":
		w.mu.Lock()
		f := w.onNote
		w.mu.Unlock()
		if f != nil && m.Note != nil {
			f(*m.Note)
		}
	}
}

// runWorker runs one worker's share of the scenario until it has sent its
// result (or failed); inbox carries the coordinator's messages and is
// closed when the coordinator goes away, which cancels the work.
func runWorker(ctx context.Context, spec workerSpec, emit func(workerMsg), inbox <-chan coordMsg) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := spec.Config
	sc, err := scenarioFor(c.Scenario)
	if err != nil {
		return err
	}
	endpoint, err := wsURL(c.URL)
	if err != nil {
		return err
	}
	w := &worker{
		cfg: c, index: spec.Index, count: spec.Count, cnt: &counters{},
		id: newIdentity(c), endpoint: endpoint, emit: emit,
		released: make(map[string]chan struct{}),
	}
	w.api = newAPI(c, w.id)
	lo, hi := w.share(c.connsNeeded())
	w.pool, err = newSourcePool(c, net.ParseIP(c.SourceIP), c.SourceOffset+spec.Index*c.ipsPerWorker(spec.Count), hi-lo)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { // the coordinator's messages
		for {
			select {
			case m, ok := <-inbox:
				if !ok {
					cancel()
					return
				}
				w.deliver(m)
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() { // progress
		t := time.NewTicker(progressEvery(c))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				emit(workerMsg{Kind: "progress", Counts: w.cnt.snapshot()})
			case <-ctx.Done():
				return
			}
		}
	})

	p, err := sc.work(ctx, w)
	if err != nil {
		return fmt.Errorf("worker %d: %w", spec.Index, err)
	}
	if p.Counts == nil {
		p.Counts = map[string]int64{}
	}
	for k, v := range w.cnt.snapshot() {
		p.Counts[k] += v
	}
	emit(workerMsg{Kind: "progress", Counts: w.cnt.snapshot()})
	emit(workerMsg{Kind: "result", Result: p})
	return nil
}

// progressEvery is how often workers report their counters: twice per
// progress line, so each line is fresh.
func progressEvery(c *Config) time.Duration { return max(c.Progress/2, 50*time.Millisecond) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// workerMain is the hidden --worker mode: spec as JSON in the argument,
// coordMsgs on stdin, workerMsgs on stdout.
func workerMain(ctx context.Context, specJSON string, stdin io.Reader, stdout io.Writer) error {
	var spec workerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fmt.Errorf("reading the worker spec: %w", err)
	}
	if spec.Config == nil || spec.Count < 1 || spec.Index < 0 || spec.Index >= spec.Count {
		return fmt.Errorf("reading the worker spec: incomplete spec %s", specJSON)
	}
	if _, err := raiseFileLimit(); err != nil {
		return err
	}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(m workerMsg) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	inbox := make(chan coordMsg, 1024)
	go func() { // ends with stdin, when the coordinator closes it or exits
		defer close(inbox)
		dec := json.NewDecoder(bufio.NewReader(stdin))
		for {
			var m coordMsg
			if err := dec.Decode(&m); err != nil {
				return
			}
			inbox <- m
		}
	}()
	err := runWorker(ctx, spec, emit, inbox)
	if err != nil {
		emit(workerMsg{Kind: "fatal", Err: err.Error()})
	}
	return err
}

// workerHandle is the coordinator's end of one worker.
type workerHandle interface {
	send(m coordMsg)
	// stop ends the worker's input and waits for it to exit.
	stop(timeout time.Duration)
}

// event is a worker message as the coordinator receives it.
type event struct {
	from int
	msg  workerMsg
	gone error // set when the worker's output ended
}

// startWorkers starts count workers for c, all reporting to events until
// quit is closed. exe is this program, to start workers as processes; when
// it is empty and count is 1 the worker runs on a goroutine.
func startWorkers(ctx context.Context, c *Config, count int, exe string, events chan<- event, quit <-chan struct{}) ([]workerHandle, error) {
	hs := make([]workerHandle, 0, count)
	for i := range count {
		spec := workerSpec{Config: c, Index: i, Count: count}
		var h workerHandle
		var err error
		if count == 1 && exe == "" {
			h = startLocalWorker(ctx, spec, events, quit)
		} else {
			h, err = startProcWorker(exe, spec, events, quit)
		}
		if err != nil {
			for _, h := range hs {
				h.stop(5 * time.Second)
			}
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// localWorker runs in this process.
type localWorker struct {
	inbox  chan coordMsg
	done   chan struct{}
	cancel context.CancelFunc
	once   sync.Once
}

func startLocalWorker(ctx context.Context, spec workerSpec, events chan<- event, quit <-chan struct{}) *localWorker {
	ctx, cancel := context.WithCancel(ctx)
	lw := &localWorker{inbox: make(chan coordMsg, 1024), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(lw.done)
		emit := func(m workerMsg) {
			select {
			case events <- event{from: spec.Index, msg: m}:
			case <-quit:
			}
		}
		err := runWorker(ctx, spec, emit, lw.inbox)
		if err != nil {
			emit(workerMsg{Kind: "fatal", Err: err.Error()})
		}
		select {
		case events <- event{from: spec.Index, gone: errors.New("worker returned")}:
		case <-quit:
		}
	}()
	return lw
}

func (l *localWorker) send(m coordMsg) {
	select {
	case l.inbox <- m:
	case <-l.done:
	}
}

func (l *localWorker) stop(timeout time.Duration) {
	l.once.Do(func() { close(l.inbox) })
	select {
	case <-l.done:
	case <-time.After(timeout):
		l.cancel()
		<-l.done
	}
}

// procWorker is this program started again as a worker.
type procWorker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	enc   *json.Encoder
	done  chan struct{} // closed when its output has ended and it exited
}

func startProcWorker(exe string, spec workerSpec, events chan<- event, quit <-chan struct{}) (*procWorker, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the worker spec: %w", err)
	}
	cmd := exec.Command(exe, workerFlag, string(b))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting worker %d: %w", spec.Index, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting worker %d: %w", spec.Index, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %d (%s): %w", spec.Index, exe, err)
	}
	pw := &procWorker{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		dec := json.NewDecoder(bufio.NewReaderSize(stdout, 1<<20))
		var readErr error
		for {
			var m workerMsg
			if readErr = dec.Decode(&m); readErr != nil {
				break
			}
			select {
			case events <- event{from: spec.Index, msg: m}:
			case <-quit:
			}
		}
		waitErr := cmd.Wait()
		gone := fmt.Errorf("worker %d exited: %v", spec.Index, waitErr)
		if waitErr == nil && !errors.Is(readErr, io.EOF) {
			gone = fmt.Errorf("worker %d: reading its output: %w", spec.Index, readErr)
		}
		select {
		case events <- event{from: spec.Index, gone: gone}:
		case <-quit:
		}
	}()
	return pw, nil
}

func (p *procWorker) send(m coordMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(m)
}

func (p *procWorker) stop(timeout time.Duration) {
	p.mu.Lock()
	_ = p.stdin.Close()
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// workerArgs reports whether args ask for worker mode, and the spec.
func workerArgs(args []string) (string, bool) {
	if len(args) == 2 && args[0] == workerFlag {
		return args[1], true
	}
	return "", false
}
