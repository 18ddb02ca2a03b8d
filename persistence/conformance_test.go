package persistence_test

import (
	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/persistence"
)

// Both stores implement the actors' Store; persistence itself does not
// import actors, so the check lives here.
var (
	_ actors.Store = (*persistence.SQLite)(nil)
	_ actors.Store = (*persistence.Postgres)(nil)
)
