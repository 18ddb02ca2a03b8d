// Command presenced-bench is the load generator of presenced: it speaks the
// client protocol (shared PROTOCOL.md, v1) over real WebSockets to any
// server of that protocol, and measures four scenarios: idle connections
// and what they cost the server in memory, presence fan-out latency,
// durable message latency and loss, and a connect storm. docs/benchmarks.md
// ("Load tool") shows how to run it; --help lists every flag.
//
// # Processes
//
// One process may hold about 19,900 connections on this machine (20,000
// open files), so a run is a coordinator and N workers (--procs): the
// workers each open their share of the connections and measure; the
// coordinator releases them through barriers, relays presence-change notes
// between them, samples the server (/proc/PID and /metrics) and merges
// their partial results. Latencies travel as histograms that merge exactly
// (histogram.go), never as percentiles. With one worker it runs on a
// goroutine in the coordinator's process; otherwise workers are this
// program started again with a hidden flag, talking JSON lines on stdin and
// stdout (worker.go).
//
// # Connections
//
// Connections are bound to loopback source addresses 127.0.0.2, 127.0.0.3,
// ... (--conns-per-ip each), so that ephemeral ports never run out. Each
// has one reader goroutine (which also answers the server's pings) and
// heartbeats on a timer at the interval presence:connected advertised.
//
// # Concurrency
//
// Every goroutine ends with the run's context or with the connection it
// reads; the coordinator's state lives on its one goroutine; a worker's
// measurements are behind locks or atomics (counters.go, syncHistogram).
package main
