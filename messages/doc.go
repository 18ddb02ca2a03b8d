// Package messages is presenced's shared vocabulary: the protobuf messages
// actors exchange (presenced.proto, generated into presenced.pb.go by
// `make proto`), the client-visible error codes and store sentinels, and the
// encoders of the server-to-client frames of PROTOCOL.md.
//
// A message is never mutated after it has been sent: actors on other
// goroutines, or other cluster members, may be reading it.
package messages
