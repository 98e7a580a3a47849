// Package oserr adds to an operating system's network error the transports
// error a caller tests for (ErrReset, ErrTimeout, …). Both backends over
// OS sockets, osnet and evloop, use it, so the same OS error means the same
// thing whichever backend reports it.
package oserr

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/microstack-go/microstack/transports"
)

// Wrap adds the transports error matching an OS error, when there is one:
// "reset: <err>", matching both. Other errors are returned as they are.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	if s := sentinel(err); s != nil {
		return fmt.Errorf("%w: %w", s, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", transports.ErrTimeout, err)
	}
	return err
}

// Dial wraps a dial failure: ctx's error when ctx ended (with ErrTimeout
// for a deadline), else Wrap(err).
func Dial(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", transports.ErrTimeout, ctxErr)
		}
		return ctxErr
	}
	return Wrap(err)
}
