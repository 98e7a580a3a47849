package oserr

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/transports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWrapAddsTheSentinelAndKeepsTheCause(t *testing.T) {
	reset := &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}
	tests := []struct {
		name string
		err  error
		want error // nil: returned as it is
	}{
		{"reset", reset, transports.ErrReset},
		{"refused", syscall.ECONNREFUSED, transports.ErrRefused},
		{"deadline", os.ErrDeadlineExceeded, transports.ErrTimeout},
		{"eof", io.EOF, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Wrap(tt.err)
			if tt.want == nil {
				if got != tt.err {
					t.Fatalf("Wrap(%v) = %v, want it unchanged", tt.err, got)
				}
				return
			}
			if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
				t.Fatalf("Wrap(%v) = %v, want it to match %v and the cause", tt.err, got, tt.want)
			}
		})
	}
	if Wrap(nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
}

func TestDialReportsAnEndedContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	if err := Dial(ctx, syscall.ECONNREFUSED); !errors.Is(err, transports.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial after the deadline = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if err := Dial(context.Background(), syscall.ECONNREFUSED); !errors.Is(err, transports.ErrRefused) {
		t.Fatalf("Dial = %v, want ErrRefused", err)
	}
}
