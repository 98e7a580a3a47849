package evloop

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/microstack-go/microstack/transports"
)

// sentinel maps an OS error to the transports error a caller tests for (as
// transports/osnet does).
func sentinel(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case unix.ECONNREFUSED:
		return transports.ErrRefused
	case unix.ECONNRESET, unix.EPIPE, unix.ECONNABORTED:
		return transports.ErrReset
	case unix.ETIMEDOUT:
		return transports.ErrTimeout
	case unix.EHOSTUNREACH, unix.ENETUNREACH:
		return transports.ErrUnreachable
	case unix.EADDRINUSE:
		return transports.ErrAddrInUse
	case unix.EADDRNOTAVAIL:
		return transports.ErrAddrNotAvailable
	case unix.EAFNOSUPPORT, unix.EINVAL, unix.EDESTADDRREQ:
		return transports.ErrInvalidAddress
	}
	return nil
}

// wrapOS adds the sentinel matching an OS error, when there is one.
func wrapOS(err error) error {
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

// mapDialErr wraps a dial failure with the sentinel a caller tests for.
func mapDialErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", transports.ErrTimeout, ctxErr)
		}
		return ctxErr
	}
	return wrapOS(err)
}
