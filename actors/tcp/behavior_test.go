package tcp_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/evloop"
)

// shout asks a shouting behaviour to write to its peer.
type shout struct{ text string }

// shouter writes what it receives back in capitals, writes a shout when
// another actor asks and answers that actor, and reports what it saw.
type shouter struct {
	mu     sync.Mutex
	events []string
}

func (s *shouter) Receive(c *tcp.Conn, msg any) {
	s.mu.Lock()
	s.events = append(s.events, strings.TrimPrefix(strings.TrimPrefix(typeName(msg), "*tcpmsg."), "*messages."))
	s.mu.Unlock()
	switch m := msg.(type) {
	case *tcpmsg.Received:
		c.Write(bytes.ToUpper(m.Data))
	case shout:
		c.Write([]byte(m.text))
		if c.Sender() != nil {
			c.Context().Send(c.Sender(), "shouted")
		}
	case *messages.CommandFailed:
		if errors.Is(m.Err, messages.ErrUnknownCommand) {
			c.Write([]byte("unknown:"))
		}
	}
}

func (s *shouter) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func typeName(v any) string {
	switch v.(type) {
	case *tcpmsg.Connected:
		return "Connected"
	case *tcpmsg.Received:
		return "Received"
	case *messages.Closed:
		return "Closed"
	case shout:
		return "shout"
	case *messages.CommandFailed:
		return "CommandFailed"
	}
	return "other"
}

func TestBehaviorRunsInsideTheConnectionActor(t *testing.T) {
	onBothBackends(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		var made []*shouter
		lpid, addr := e.listen("shout", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Behavior: func() tcp.Behavior {
			s := &shouter{}
			mu.Lock()
			made = append(made, s)
			mu.Unlock()
			return s
		}})
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HELLO" {
			t.Fatalf("read %q, %v", buf, err)
		}
		// One actor per connection: the listener's only child is the
		// connection, with no handler below it.
		var conn string
		for _, in := range e.registry.Snapshot() {
			if strings.HasPrefix(in.Path, lpid.Id+"/") {
				if conn != "" {
					t.Fatalf("two actors under the listener: %s and %s", conn, in.Path)
				}
				conn = in.Path
			}
		}
		if conn == "" {
			t.Fatal("no connection actor in the tree")
		}
		// Another actor's message reaches the behaviour, with its sender.
		p := testkit.NewProbe(t, e.system)
		p.Send(actor.NewPID(e.system.Address(), conn), shout{"HEY"})
		if got := testkit.Expect[string](p, 0); got != "shouted" {
			t.Fatalf("answer %q", got)
		}
		buf = make([]byte, 3)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HEY" {
			t.Fatalf("read %q, %v", buf, err)
		}
		c.Close()
		mu.Lock()
		s := made[0]
		mu.Unlock()
		testkit.Eventually(t, 5*time.Second, func() bool {
			ev := s.seen()
			return len(ev) > 0 && ev[len(ev)-1] == "Closed"
		}, "the behaviour sees Closed")
		ev := s.seen()
		if ev[0] != "Connected" || ev[1] != "Received" {
			t.Fatalf("events %v", ev)
		}
	})
}

// A behaviour whose peer does not read has its writes refused past the
// high-water mark, asks to resume, and gets every byte through once the
// peer reads: the NACK-with-suspend protocol, inside the actor.
func TestBehaviorWriteBackPressure(t *testing.T) {
	e := newEnv(t, evloop.New(evloop.Options{}))
	const chunk, total = 16 << 10, 4 << 20
	var refused, resumed atomic.Int64
	var dbg atomic.Value
	beh := func() tcp.Behavior {
		sent := 0
		var pending [][]byte // refused writes, in order, to send again
		blocked := false
		push := func(c *tcp.Conn) {
			for sent < total && !blocked {
				c.Write(bytes.Repeat([]byte{byte(sent / chunk)}, chunk))
				sent += chunk
			}
		}
		return tcp.BehaviorFunc(func(c *tcp.Conn, msg any) {
			switch m := msg.(type) {
			case *tcpmsg.Connected:
				push(c)
			case *messages.WriteRefused:
				refused.Add(1)
				pending = append(pending, m.Cmd.(*tcpmsg.Write).Data)
				if !blocked {
					blocked = true
					c.Command(&messages.ResumeWriting{})
				}
			case *tcpmsg.ConnectionStats:
				dbg.Store(fmt.Sprintf("stats %+v blocked %v pending %d sent %d", *m, blocked, len(pending), sent))
			case string:
				c.Command(&tcpmsg.GetStats{})
			case *messages.WritingResumed:
				resumed.Add(1)
				blocked = false
				batch := pending
				pending = nil
				for _, b := range batch {
					c.Write(b)
				}
				push(c)
			}
		})
	}
	// Small kernel buffers, so that the connection's own queue fills.
	sock := tcpmsg.SocketOptions{HighWater: 256 << 10, SendBuffer: 16 << 10}
	_, addr := e.listen("bp", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Behavior: beh, Socket: sock})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The behaviour fills the socket and the queue, and is refused.
	testkit.Eventually(t, 10*time.Second, func() bool { return refused.Load() > 0 }, "a refused write")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		for _, in := range e.registry.Snapshot() {
			if strings.Contains(in.Path, "bp/") {
				e.system.Root.Send(actor.NewPID(e.system.Address(), in.Path), "stats?")
			}
		}
		time.Sleep(time.Second)
		t.Fatalf("after %d refused writes and %d resumes: %v; %v", refused.Load(), resumed.Load(), err, dbg.Load())
	}
	for i := 0; i < total; i += chunk {
		if got[i] != byte(i/chunk) || got[i+chunk-1] != byte(i/chunk) {
			t.Fatalf("chunk %d changed or out of order", i/chunk)
		}
	}
	if resumed.Load() == 0 {
		t.Fatal("every byte arrived, yet writing never resumed")
	}
}

// A command the connection does not know, from the behaviour, is answered
// to the behaviour.
func TestBehaviorUnknownCommandIsAnsweredToIt(t *testing.T) {
	e := newEnv(t, nil)
	beh := func() tcp.Behavior {
		s := &shouter{}
		return tcp.BehaviorFunc(func(c *tcp.Conn, msg any) {
			if _, ok := msg.(*tcpmsg.Connected); ok {
				c.Command(struct{ bogus int }{1})
				return
			}
			s.Receive(c, msg)
		})
	}
	_, addr := e.listen("unknown", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Behavior: beh})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, len("unknown:"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "unknown:" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// The echo behaviour (EchoSpec's) with a client that sends a lot before
// it reads: the echo stalls on back-pressure, and once the client reads,
// every byte comes back in order.
func TestEchoBehaviorResumesAfterASlowReader(t *testing.T) {
	e := newEnv(t, evloop.New(evloop.Options{}))
	sock := tcpmsg.SocketOptions{HighWater: 64 << 10, SendBuffer: 16 << 10, ReceiveBuffer: 16 << 10}
	_, addr := e.listen("echo", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Behavior: tcp.EchoBehavior, Socket: sock})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const total = 2 << 20
	want := make([]byte, total)
	for i := range want {
		want[i] = byte(i * 7)
	}
	werr := make(chan error, 1)
	go func() { _, err := c.Write(want); werr <- err }()
	time.Sleep(300 * time.Millisecond) // the echo fills every buffer and stalls
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the echo changed or reordered bytes")
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
}
