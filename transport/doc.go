// Package transport owns presenced's edge: the WebSocket endpoint of
// PROTOCOL.md (upgrade, authentication, origin check, frame decoding and
// validation, rate limits, pings, the send queue) and the HTTP API
// (/healthz, /readyz, /metrics, /v1/...).
//
// Concurrency contract: each connection has one reader goroutine, which
// owns its lifecycle, and at most one writer goroutine, started when frames
// are queued and gone when the queue is empty. Actors push frames through
// Conn.Push, which never blocks: a connection whose queue is full is closed
// (1008) instead of slowing anyone. Server.Wait waits for all of them.
package transport
