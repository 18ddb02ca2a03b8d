// Package config owns presenced's configuration: the set of keys, their
// defaults, how the layers are read and merged, and the rules that make a
// configuration acceptable. The contract it implements is CONFIG.md; the
// table of keys in schema.go follows that document row by row, and the
// order of that table is the order Print writes.
//
// # Layers
//
// Load merges, each layer overriding the one before:
//
//  1. the defaults of CONFIG.md (Default);
//  2. a YAML file named by --config FILE, or PRESENCED_CONFIG=FILE when the
//     flag is absent;
//  3. the environment: PRESENCED_ + the key in upper case with "__" between
//     levels (PRESENCED_PRESENCE__HEARTBEAT_TIMEOUT=30s);
//  4. flags: --set key=value (repeatable) and --listen ADDR, applied in the
//     order given.
//
// koanf reads the file and the environment and does the merging. Every layer
// is checked on its own before it is merged, so an error names the key and
// where it came from, and a bad value is reported even when a later layer
// would have replaced it. YAML values must already have the key's type (a
// number for a number, a list for a list); environment and flag values are
// strings and are parsed to the key's type, lists being comma-separated.
//
// # Errors
//
// Every problem with the configuration is a *Error naming one key. Its
// message is one line, meant to be printed as is before exiting with code 2.
//
// # Who imports it
//
// Only cmd/presenced imports config: it calls Load, then maps the Config onto
// each package's own options. No other package sees a Config, so transport,
// actors and persistence stay usable (and testable) without koanf or files.
//
// # Concurrency
//
// Load and Print keep no global state and are safe to call from several
// goroutines. A Config is a plain value; treat it as read-only once loaded.
package config
