//go:build !linux

package transport

import (
	"errors"
	"log/slog"

	"github.com/presenced/presenced/internal/workpool"
)

// poller is Linux only: elsewhere every connection reads on its own
// goroutine.
type poller struct{}

func newPoller(*workpool.Pool, *slog.Logger) (*poller, error) { return nil, nil }

func (p *poller) arm(*conn) error { return errors.ErrUnsupported }
func (p *poller) forget(*conn)    {}
func (p *poller) close()          {}
