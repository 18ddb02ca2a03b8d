// Package actors owns all presence and delivery state of presenced, and all
// time. It runs on Proto.Actor:
//
//   - users: supervises one user actor per user with a live connection or
//     inside its offline grace, and stops them only through a handshake so
//     no connection is ever forwarded to a stopping actor.
//   - user actor: a user's connections, each one's focus and heartbeat
//     deadline, the offline grace, lastActive/lastSeen and a version that
//     orders every change it publishes. Its state is soft: after a restart
//     it is rebuilt from the member's sessions.
//   - registry: who is online and who may see whom; per viewer connection
//     it computes the status as that viewer sees it and sends only changes,
//     coalesced.
//   - persistence: group-commits writes to the Store declared here.
//
// Concurrency contract: actor state is touched only on the actor's
// goroutine. What leaves an actor is a message (never mutated after it is
// sent) or a frame pushed to a Conn, which never blocks. Store I/O runs off
// the actors and comes back as a message. Time enters only through Clock,
// so tests drive a fake clock and Options.Synchronous instead of sleeping.
//
// Transport talks to the actors through Engine (one per member) and the
// Session of each connection.
package actors
