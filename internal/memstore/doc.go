// Package memstore is an in-memory implementation of the actors' Store with
// the semantics of the durable ones in persistence (the conformance suite in
// internal/storetest runs on all of them), for deterministic tests of the
// actors. It also injects failures: SetUnavailable makes every method fail
// as a lost database would, and SetAppendHook lets a test hold or fail a
// batch. Every method is safe for concurrent use.
package memstore
