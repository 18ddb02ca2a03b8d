package persistence

import (
	"context"
	"errors"
	"fmt"

	"github.com/presenced/presenced/messages"
)

// fail translates err at the edge of the package: sentinels and client
// errors pass, "cannot serve now" becomes messages.ErrUnavailable, and a
// driver error is flattened to text so that no driver type escapes.
func (s *store) fail(op string, err error) error {
	var clientErr *messages.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &clientErr):
		return err
	case errors.Is(err, messages.ErrNotFound), errors.Is(err, messages.ErrForbidden):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, messages.ErrUnavailable, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case s.closed.Load():
		return fmt.Errorf("%s: %w: store closed", op, messages.ErrUnavailable)
	case s.db.unavailable(err):
		return fmt.Errorf("%s: %w: %v", op, messages.ErrUnavailable, err)
	default:
		return fmt.Errorf("%s: %v", op, err)
	}
}

func isNotFound(err error) bool { return errors.Is(err, messages.ErrNotFound) }
