package actors

import cmap "github.com/orcaman/concurrent-map"

// Proto.Actor's process registry spreads the actors of a system over 1,024
// concurrent maps of concurrent-map's SHARD_COUNT shards each: 32,768 Go
// maps at the default of 32. With one actor per user, nearly every actor
// then sits alone in a map of its own (a bucket group and a header, ~400 B
// where a dense map spends ~50), and the empty maps cost 3.5 MB besides,
// however few users are online. One shard per map leaves 1,024 locks,
// plenty for two cores, and each map dense.
//
// SHARD_COUNT is read whenever a map is made or used, so it is set once,
// here, before any actor system exists, and never again. The cluster's PID
// cache, the only other user of the package, then takes one lock: it is
// read once per grain resolved, not per message.
func init() { cmap.SHARD_COUNT = 1 }
