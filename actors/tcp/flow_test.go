package tcp_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
)

// accepted binds a listener whose Accepted go to a probe, connects a
// client, registers the probe as the server side's handler and returns
// everything.
func acceptedPair(t *testing.T, e *env, server tcp.ListenerOptions, client tcpmsg.ConnectOptions) (conn *actor.PID, cp *testkit.Probe, sconn *actor.PID, sp *testkit.Probe) {
	t.Helper()
	sp = testkit.NewProbe(t, e.system)
	server.Network = e.net
	lpid := e.spawn(tcp.ListenerProps(server), "", tcp.ListenerKind)
	sp.Send(lpid, &tcpmsg.Bind{Local: netip.AddrPortFrom(lo4, 0)})
	addr := testkit.Expect[*tcpmsg.Bound](sp, 0).Local
	conn, cp, _ = e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr, Options: client})
	a := testkit.FishFor[*tcpmsg.Accepted](sp, 0, nil)
	sp.Send(a.Conn, &messages.Register{Handler: sp.PID})
	return conn, cp, a.Conn, sp
}

// A peer that does not read: the writer's queue stops at the high-water
// mark, later writes are refused in order, nothing is dropped, and writing
// resumes once the peer reads and the writer asks.
func TestWriterToAPeerThatDoesNotReadIsRefusedAndResumes(t *testing.T) {
	e := newEnv(t, nil)
	const chunk, highWater = 64 << 10, 256 << 10
	small := tcpmsg.SocketOptions{SendBuffer: 32 << 10, ReceiveBuffer: 32 << 10}
	server := tcp.ListenerOptions{Socket: small}
	server.Socket.StartSuspended = true
	client := tcpmsg.ConnectOptions{Socket: small}
	client.Socket.HighWater = highWater
	conn, cp, sconn, sp := acceptedPair(t, e, server, client)

	const writes = 200 // 12.5 MiB: far more than the kernel's buffers hold
	for i := range writes {
		cp.Send(conn, &tcpmsg.Write{Data: bytes.Repeat([]byte{byte(i)}, chunk), Ack: i})
	}
	acked, refused, firstRefused := 0, 0, 0
	maxBuffered := 0
	cp.CollectUntil(20*time.Second, func(ms []any) bool {
		if len(ms) == 0 {
			return false
		}
		// Acks come in write order; refusals too, from the first refused
		// write on: every write after it is refused.
		switch m := ms[len(ms)-1].(type) {
		case *messages.WriteAck:
			if m.Ack != acked {
				t.Fatalf("ack %v after %d acks", m.Ack, acked)
			}
			acked++
		case *messages.WriteRefused:
			w := m.Cmd.(*tcpmsg.Write)
			if refused == 0 {
				firstRefused = w.Ack.(int)
			}
			if w.Ack != firstRefused+refused {
				t.Fatalf("refused write %v out of order", w.Ack)
			}
			refused++
			maxBuffered = max(maxBuffered, m.Buffered)
		}
		return refused > 0 && firstRefused+refused == writes
	})
	// The queue never held more than the high-water mark plus one write.
	if maxBuffered > highWater+chunk {
		t.Fatalf("buffered %d past the high-water mark %d", maxBuffered, highWater)
	}
	if refused < writes/2 {
		t.Fatalf("only %d of %d writes refused: the peer is reading", refused, writes)
	}
	// The peer reads: everything accepted arrives, in order; the writer
	// asks to resume and is told once the queue has drained.
	sp.Send(sconn, &messages.ResumeReading{})
	cp.Send(conn, &messages.ResumeWriting{})
	got := readN(t, sp, firstRefused*chunk)
	resumed := false
	cp.CollectUntil(0, func(ms []any) bool {
		if len(ms) > 0 {
			switch m := ms[len(ms)-1].(type) {
			case *messages.WriteAck:
				if m.Ack != acked {
					t.Fatalf("ack %v, want %d", m.Ack, acked)
				}
				acked++
			case *messages.WritingResumed:
				resumed = true
			}
		}
		return resumed && acked == firstRefused
	})
	for i := range firstRefused {
		if got[i*chunk] != byte(i) || got[(i+1)*chunk-1] != byte(i) {
			t.Fatalf("chunk %d out of order", i)
		}
	}
	cp.Send(conn, &tcpmsg.Write{Data: []byte("more"), Ack: "more"})
	testkit.FishFor(cp, 0, func(a *messages.WriteAck) bool { return a.Ack == "more" })
}

// Credits deliver that many reads then Passive; nothing is delivered while
// passive or suspended, yet a close is.
func TestCreditsSuspendAndCloseWhileSuspended(t *testing.T) {
	e := newEnv(t, nil)
	client := tcpmsg.ConnectOptions{Socket: tcpmsg.SocketOptions{StartSuspended: true}}
	conn, cp, sconn, sp := acceptedPair(t, e, tcp.ListenerOptions{}, client)
	sp.Send(sconn, &tcpmsg.Write{Data: []byte("abc"), Ack: 1})
	testkit.FishFor[*messages.WriteAck](sp, 0, nil)
	cp.ExpectNoMessage(100 * time.Millisecond)
	cp.Send(conn, &messages.ResumeReading{Credits: 1})
	if r := testkit.Expect[*tcpmsg.Received](cp, 0); string(r.Data) != "abc" {
		t.Fatalf("got %q", r.Data)
	}
	testkit.Expect[*messages.Passive](cp, 0)
	sp.Send(sconn, &tcpmsg.Write{Data: []byte("def"), Ack: 2})
	testkit.FishFor[*messages.WriteAck](sp, 0, nil)
	cp.ExpectNoMessage(100 * time.Millisecond)
	cp.Send(conn, &messages.ResumeReading{})
	if got := readN(t, cp, 3); string(got) != "def" {
		t.Fatalf("got %q", got)
	}
	// Suspended, the peer sends a little and closes: the data and the close
	// are delivered at once, not when reading resumes.
	cp.Send(conn, &messages.SuspendReading{})
	sp.Send(sconn, &tcpmsg.Write{Data: []byte("bye")})
	sp.Send(sconn, &tcpmsg.Close{})
	if got := readN(t, cp, 3); string(got) != "bye" {
		t.Fatalf("got %q", got)
	}
	expectClosed(t, cp, messages.PeerClosed)
}

// Credits given before the data arrives are spent by the reads as they
// come (each delivered at once, nothing held): two credits, two reads,
// then Passive, and the third read waits for more credit.
func TestCreditsGivenAheadAreSpentByEachRead(t *testing.T) {
	e := newEnv(t, nil)
	client := tcpmsg.ConnectOptions{Socket: tcpmsg.SocketOptions{StartSuspended: true}}
	conn, cp, sconn, sp := acceptedPair(t, e, tcp.ListenerOptions{}, client)
	cp.Send(conn, &messages.ResumeReading{Credits: 2})
	cp.ExpectNoMessage(50 * time.Millisecond)
	for i, want := range []string{"one", "two"} {
		sp.Send(sconn, &tcpmsg.Write{Data: []byte(want), Ack: i})
		testkit.FishFor[*messages.WriteAck](sp, 0, nil)
		if r := testkit.Expect[*tcpmsg.Received](cp, 0); string(r.Data) != want {
			t.Fatalf("read %d: %q", i, r.Data)
		}
	}
	testkit.Expect[*messages.Passive](cp, 0)
	sp.Send(sconn, &tcpmsg.Write{Data: []byte("three"), Ack: 3})
	testkit.FishFor[*messages.WriteAck](sp, 0, nil)
	cp.ExpectNoMessage(100 * time.Millisecond)
	cp.Send(conn, &messages.ResumeReading{Credits: 1})
	if got := readN(t, cp, 5); string(got) != "three" {
		t.Fatalf("got %q", got)
	}
}

// The reader that stops reading holds the peer back through the kernel:
// the peer's queue fills and its writes are refused.
func TestSuspendedReaderHoldsThePeerBack(t *testing.T) {
	e := newEnv(t, nil)
	small := tcpmsg.SocketOptions{SendBuffer: 32 << 10, ReceiveBuffer: 32 << 10, HighWater: 128 << 10}
	conn, cp, sconn, sp := acceptedPair(t, e, tcp.ListenerOptions{Socket: small}, tcpmsg.ConnectOptions{Socket: small})
	cp.Send(conn, &messages.SuspendReading{})
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	for i := range 200 {
		sp.Send(sconn, &tcpmsg.Write{Data: bytes.Clone(chunk), Ack: i})
	}
	testkit.FishFor[*messages.WriteRefused](sp, 10*time.Second, nil)
	cp.Send(conn, &tcpmsg.GetStats{})
	// What was read before the suspension took effect is held: at most the
	// reads in the mailbox and the one the stream reads ahead.
	if st := testkit.FishFor[*tcpmsg.ConnectionStats](cp, 0, nil); st.Held > 5*32<<10 {
		t.Fatalf("the suspended reader holds %d bytes", st.Held)
	}
}

func TestMaxConnectionsClosesTheExtraSocketsAndCountsThem(t *testing.T) {
	e := newEnv(t, nil)
	lpid, addr := e.listen("max", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps, MaxConnections: 2})
	c1, p1, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	c2, p2, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	echoRoundTrip(t, p1, c1, []byte("one"))
	echoRoundTrip(t, p2, c2, []byte("two"))
	_, p3, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	expectClosed(t, p3, messages.PeerClosed)
	stats := testkit.NewProbe(t, e.system)
	stats.Send(lpid, &tcpmsg.GetStats{})
	if st := testkit.Expect[*tcpmsg.ListenerStats](stats, 0); st.Rejected != 1 || st.Connections != 2 || st.Accepted != 2 {
		t.Fatalf("stats %+v", st)
	}
	// A place frees up.
	p1.Send(c1, &tcpmsg.Close{})
	expectClosed(t, p1, messages.ClosedByUs)
	testkit.Eventually(t, 0, func() bool {
		stats.Send(lpid, &tcpmsg.GetStats{})
		return testkit.Expect[*tcpmsg.ListenerStats](stats, 0).Connections == 1
	}, "the listener sees the close")
	c4, p4, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	echoRoundTrip(t, p4, c4, []byte("four"))
}

func TestUnbindStopsAcceptingWhileConnectionsGoOn(t *testing.T) {
	e := newEnv(t, nil)
	lpid, addr := e.listen("l", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
	c1, p1, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	// Accepted, not only in the kernel's backlog (which the close resets).
	echoRoundTrip(t, p1, c1, []byte("accepted"))
	p := testkit.NewProbe(t, e.system)
	p.Send(lpid, &tcpmsg.Unbind{})
	testkit.Expect[*tcpmsg.Unbound](p, 0)
	echoRoundTrip(t, p1, c1, []byte("still here"))
	_, p2 := e.dialAsync("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	expectFailed(t, p2)
	p.Send(lpid, &tcpmsg.Unbind{})
	expectFailed(t, p, tcpmsg.ErrNotBound)
}

func TestBindFailuresAreAnswered(t *testing.T) {
	e := newEnv(t, nil)
	_, addr := e.listen("a", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
	pid := e.spawn(tcp.ListenerProps(tcp.ListenerOptions{Handler: tcp.EchoHandlerProps}), "b", tcp.ListenerKind)
	p := testkit.NewProbe(t, e.system)
	p.Send(pid, &tcpmsg.Bind{Local: addr})
	expectFailed(t, p, transports.ErrAddrInUse)
	p.Send(pid, &tcpmsg.Bind{})
	expectFailed(t, p, messages.ErrBadCommand)
}

// The echo service honours back-pressure end to end: a client that writes
// and never reads fills the echo's write queue, the echo stops reading,
// and the client's own writes are refused; nothing grows without bound.
func TestEchoServiceStallsAClientThatDoesNotRead(t *testing.T) {
	e := newEnv(t, nil)
	small := tcpmsg.SocketOptions{SendBuffer: 32 << 10, ReceiveBuffer: 32 << 10, HighWater: 128 << 10}
	_, addr := e.listen("echo", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps, Socket: small})
	client := tcpmsg.ConnectOptions{Socket: small}
	client.Socket.StartSuspended = true
	conn, p, _ := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Remote: addr, Options: client})
	chunk := bytes.Repeat([]byte("e"), 16<<10)
	for i := range 400 { // 6.25 MiB
		p.Send(conn, &tcpmsg.Write{Data: bytes.Clone(chunk), Ack: i})
	}
	testkit.FishFor[*messages.WriteRefused](p, 10*time.Second, nil)
	var held int64
	for _, in := range e.registry.Snapshot() {
		if in.Kind == tcp.Kind && len(in.Path) > 5 && in.Path[:5] == "echo/" {
			held += in.Counters["buffered"]
		}
	}
	if held > 256<<10 {
		t.Fatalf("the echo holds %d bytes for a client that does not read", held)
	}
	// The client reads again: the echo catches up.
	p.Send(conn, &messages.ResumeReading{})
	testkit.FishFor[*tcpmsg.Received](p, 10*time.Second, nil)
}
