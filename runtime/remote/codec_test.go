package remote

import (
	"errors"
	"fmt"
	"testing"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
)

func TestAnswersCrossTheBoundaryAsTheSameTypedMessages(t *testing.T) {
	cmd := &storemsg.Get{Key: []byte("k")}
	cases := []struct {
		name   string
		answer any
		err    error
		check  func(any, error) error
	}{
		{"typed answer", &storemsg.Got{Key: []byte("k"), Value: []byte("v")}, nil, func(a any, err error) error {
			if g, ok := a.(*storemsg.Got); !ok || string(g.Value) != "v" || err != nil {
				return fmt.Errorf("%T %+v, %v", a, a, err)
			}
			return nil
		}},
		{"command failed keeps the sentinel", &messages.CommandFailed{Cmd: cmd, Err: fmt.Errorf("lookup: %w", storemsg.ErrNotFound)}, nil, func(a any, err error) error {
			cf, ok := a.(*messages.CommandFailed)
			if !ok || cf.Cmd != cmd || !errors.Is(cf, storemsg.ErrNotFound) || errors.Is(cf, storemsg.ErrLocked) {
				return fmt.Errorf("%T %+v, %v", a, a, err)
			}
			return nil
		}},
		{"closed keeps its reason and error", &messages.Closed{Reason: messages.ErrorClosed, Err: messages.ErrTimeout}, nil, func(a any, err error) error {
			c, ok := a.(*messages.Closed)
			if !ok || c.Reason != messages.ErrorClosed || !errors.Is(c.Err, messages.ErrTimeout) {
				return fmt.Errorf("%T %+v, %v", a, a, err)
			}
			return nil
		}},
		{"an answer that is not remotable is an error", &tcpmsg.Accepted{}, nil, func(a any, err error) error {
			if !errors.Is(err, remotemsg.ErrNotRemotable) {
				return fmt.Errorf("%v", err)
			}
			return nil
		}},
		{"delivery failure", nil, fmt.Errorf("%w: x", remotemsg.ErrNoActor), func(a any, err error) error {
			if !errors.Is(err, remotemsg.ErrNoActor) || err.Error() != "remote: no actor at path: x" {
				return fmt.Errorf("%v", err)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(answerOf(cmd, replyTo(tc.answer, tc.err))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDecodeRefusesUnregisteredTypeNames(t *testing.T) {
	_, err := decode("tcpmsg.Bind", []byte("{}"))
	var nr *NotRemotableError
	if !errors.As(err, &nr) || nr.Type != "tcpmsg.Bind" || !errors.Is(err, remotemsg.ErrNotRemotable) {
		t.Fatalf("decode: %v", err)
	}
	if _, err := decode("storemsg.Get", []byte("{")); err == nil {
		t.Fatal("bad JSON decoded")
	}
}

func TestRegisterPanicsOnANameClashOrANonStruct(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	func() {
		type Clash struct{}
		Register(Clash{})
	}()
	mustPanic("clash", func() {
		type Clash struct{ X int } // also "remote.Clash"
		Register(Clash{})
	})
	mustPanic("not a struct", func() { Register(42) })
}

func TestSecretDerivesTheSameAuthorityEverywhere(t *testing.T) {
	s := []byte("0123456789abcdef")
	c1, p1, err := fromSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	c2, p2, _ := fromSecret(s)
	if string(c1.Certificate[0]) == string(c2.Certificate[0]) {
		t.Fatal("two processes share a certificate")
	}
	if !p1.Equal(p2) {
		t.Fatal("the same secret gave two authorities")
	}
	_, p3, _ := fromSecret([]byte("0123456789abcdeX"))
	if p1.Equal(p3) {
		t.Fatal("another secret gave the same authority")
	}
}
