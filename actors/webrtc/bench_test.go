package webrtc_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
)

// pump writes n messages to a channel as fast as back-pressure lets it:
// up to window Sends in flight, each acknowledged; after a refusal it asks
// ResumeWriting and resends from the first refused one.
type pump struct {
	ch      *actor.PID
	n       int
	window  int
	payload func(i int) []byte
	done    chan struct{}

	next, acked, inFlight int
	waiting               bool
	refusals              int
}

func (p *pump) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.fill(ctx)
	case *messages.WriteAck:
		p.acked++
		p.inFlight--
		if p.acked == p.n {
			close(p.done)
			return
		}
		p.fill(ctx)
	case *messages.WriteRefused:
		p.inFlight--
		seq := m.Cmd.(*rtcmsg.Send).Ack.(int)
		if !p.waiting {
			p.waiting = true
			p.refusals++
			p.next = seq // everything from seq on was refused
			ctx.Request(p.ch, &rtcmsg.ResumeWriting{})
		}
	case *messages.WritingResumed:
		p.waiting = false
		p.fill(ctx)
	}
}

func (p *pump) fill(ctx actor.Context) {
	for !p.waiting && p.inFlight < p.window && p.next < p.n {
		ctx.Request(p.ch, &rtcmsg.Send{Data: p.payload(p.next), Ack: p.next})
		p.next++
		p.inFlight++
	}
}

// counter receives a channel's messages and closes done after n.
type counter struct {
	n     int
	got   int
	check func(i int, m *rtcmsg.Message) error
	err   atomic.Value
	done  chan struct{}
}

func (c *counter) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*rtcmsg.Message); ok {
		if c.check != nil {
			if err := c.check(c.got, m); err != nil && c.err.Load() == nil {
				c.err.Store(err)
			}
		}
		c.got++
		if c.got == c.n {
			close(c.done)
		}
	}
}

// pumpThrough sends n messages from chA and waits until chB's new handler
// has them all.
func pumpThrough(tb testing.TB, system *actor.ActorSystem, chA, chB *actor.PID, n, window int, payload func(int) []byte, check func(int, *rtcmsg.Message) error) (*pump, error) {
	tb.Helper()
	c := &counter{n: n, check: check, done: make(chan struct{})}
	cpid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }))
	defer system.Root.Stop(cpid)
	system.Root.Send(chB, &messages.Register{Handler: cpid})
	p := &pump{ch: chA, n: n, window: window, payload: payload, done: make(chan struct{})}
	ppid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	defer system.Root.Stop(ppid)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		tb.Fatalf("received %d of %d messages", c.got, n)
	}
	<-p.done
	if err, _ := c.err.Load().(error); err != nil {
		return p, err
	}
	return p, nil
}

func TestPipelinedWriterKeepsOrderThroughRefusals(t *testing.T) {
	e := newEnv(t)
	opts := loopbackOptions()
	opts.HighWater, opts.LowWater = 64<<10, 16<<10
	_, _, chA, chB := e.pair("pipelined", nil, opts, loopbackOptions())
	const n = 300
	payload := func(i int) []byte { b := make([]byte, 8<<10); copy(b, fmt.Sprintf("%06d", i)); return b }
	p, err := pumpThrough(t, e.system, chA.Channel, chB.Channel, n, 64, payload, func(i int, m *rtcmsg.Message) error {
		if want := fmt.Sprintf("%06d", i); string(m.Data[:6]) != want {
			return fmt.Errorf("message %d starts %q", i, m.Data[:6])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.refusals == 0 {
		t.Fatalf("no refusal with 64 writes of 8 KiB in flight against a 64 KiB mark")
	}
	t.Logf("%d suspensions for %d messages", p.refusals, n)
}

// rawPair connects two plain pion peers on loopback with one detached-free
// data channel, the way a pion user would.
func rawPair(tb testing.TB) (send *pion.DataChannel, recv chan *pion.DataChannel) {
	tb.Helper()
	var s pion.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetInterfaceFilter(func(name string) bool {
		ifi, err := net.InterfaceByName(name)
		return err == nil && ifi.Flags&net.FlagLoopback != 0
	})
	s.SetSCTPMaxMessageSize(256 << 10)
	api := pion.NewAPI(pion.WithSettingEngine(s))
	a, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	b, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.GracefulClose(); _ = b.GracefulClose() })
	recv = make(chan *pion.DataChannel, 1)
	b.OnDataChannel(func(dc *pion.DataChannel) { recv <- dc })
	dc, err := a.CreateDataChannel("raw", nil)
	if err != nil {
		tb.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	offer, _ := a.CreateOffer(nil)
	gathered := pion.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	if err := b.SetRemoteDescription(*a.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	answer, _ := b.CreateAnswer(nil)
	gathered = pion.GatheringCompletePromise(b)
	if err := b.SetLocalDescription(answer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	if err := a.SetRemoteDescription(*b.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		tb.Fatal("raw channel did not open")
	}
	return dc, recv
}

// BenchmarkDataChannel16K sends 16 KiB messages between two loopback peers,
// through the actors and through raw pion, in the same run, and reports
// both throughputs and their ratio (actors / raw).
func BenchmarkDataChannel16K(b *testing.B) {
	const size, high, low = 16 << 10, 1 << 20, 256 << 10
	payload := make([]byte, size)

	// Raw pion: the same back-pressure marks, with pion's own callbacks.
	send, recv := rawPair(b)
	var got atomic.Int64
	rawDone := make(chan struct{})
	var target int64
	dcB := <-recv
	dcB.OnMessage(func(pion.DataChannelMessage) {
		if got.Add(1) == atomic.LoadInt64(&target) {
			rawDone <- struct{}{}
		}
	})
	lowCh := make(chan struct{}, 1)
	send.SetBufferedAmountLowThreshold(low)
	send.OnBufferedAmountLow(func() {
		select {
		case lowCh <- struct{}{}:
		default:
		}
	})

	// Actors.
	e := newEnv(b)
	_, _, openA, openB := e.pair("bench", nil, loopbackOptions(), loopbackOptions())
	chA, chB := openA.Channel, openB.Channel

	rawRun := func(n int) time.Duration {
		start := time.Now()
		got.Store(0)
		atomic.StoreInt64(&target, int64(n))
		for range n {
			for send.BufferedAmount()+size > high {
				<-lowCh
			}
			if err := send.Send(payload); err != nil {
				b.Fatal(err)
			}
		}
		<-rawDone
		return time.Since(start)
	}
	actorRun := func(n int) time.Duration {
		start := time.Now()
		if _, err := pumpThrough(b, e.system, chA, chB, n, 128, func(int) []byte { return make([]byte, size) }, nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Warm both associations up (congestion windows, allocations) so that
	// neither side of the comparison pays the start alone.
	rawRun(500)
	actorRun(500)

	b.SetBytes(size)
	b.ResetTimer()
	raw := rawRun(b.N)
	actors := actorRun(b.N)
	b.StopTimer()

	mb := float64(b.N) * size / 1e6
	rawMBps, actorMBps := mb/raw.Seconds(), mb/actors.Seconds()
	b.ReportMetric(rawMBps, "raw-MB/s")
	b.ReportMetric(actorMBps, "actors-MB/s")
	b.ReportMetric(actorMBps/rawMBps, "ratio")
	fmt.Printf("dc-16k: ratio %.2f (actors %.1f MB/s, raw pion %.1f MB/s, %d messages)\n", actorMBps/rawMBps, actorMBps, rawMBps, b.N)
}
