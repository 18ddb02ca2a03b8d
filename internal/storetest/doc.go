// Package storetest is the one conformance suite of the actors' Store: the
// in-memory store and both durable ones run it, so that actor tests on the
// in-memory store prove something about production. Run covers the
// semantics; RunDurable covers what must survive a close and reopen.
package storetest
