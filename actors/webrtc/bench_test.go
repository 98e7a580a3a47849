package webrtc_test

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/datachannel"
	pion "github.com/pion/webrtc/v4"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/internal/cputime"

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
	refusals              int // suspensions
	refused               int // Sends refused, to be sent again
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
		p.refused++
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

// rawSide is one plain pion data channel between two loopback peers,
// driven the way a pion application with detached channels drives it: a
// writer that waits for OnBufferedAmountLow once the buffered amount would
// pass the high-water mark, and a reader goroutine that consumes each
// message in its read buffer.
type rawSide struct {
	dc     *pion.DataChannel
	w      datachannel.ReadWriteCloser
	low    chan struct{}
	got    atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

// newRawSide connects two plain pion peers made by api on loopback and
// opens one detached data channel between them, with the same marks as the
// actors' (opts).
func newRawSide(tb testing.TB, api *pion.API, opts webrtc.Options) *rawSide {
	tb.Helper()
	a, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	b, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	readerDone := make(chan struct{})
	tb.Cleanup(func() {
		_ = a.GracefulClose()
		_ = b.GracefulClose()
		<-readerDone
	})
	r := &rawSide{low: make(chan struct{}, 1), done: make(chan struct{}, 1)}
	recv := make(chan datachannel.ReadWriteCloser, 1)
	b.OnDataChannel(func(dc *pion.DataChannel) {
		dc.OnOpen(func() {
			rwc, err := dc.Detach()
			if err != nil {
				tb.Error(err)
			}
			recv <- rwc
		})
	})
	dc, err := a.CreateDataChannel("raw", nil)
	if err != nil {
		tb.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	connect(tb, a, b)
	var rwcB datachannel.ReadWriteCloser
	timeout := time.After(15 * time.Second)
	select {
	case <-opened:
	case <-timeout:
		tb.Fatal("raw channel did not open")
	}
	select {
	case rwcB = <-recv:
	case <-timeout:
		tb.Fatal("raw channel did not open on the answering side")
	}
	if r.w, err = dc.Detach(); err != nil {
		tb.Fatal(err)
	}
	r.dc = dc
	dc.SetBufferedAmountLowThreshold(uint64(opts.LowWater))
	dc.OnBufferedAmountLow(func() {
		select {
		case r.low <- struct{}{}:
		default:
		}
	})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := rwcB.ReadDataChannel(buf); err != nil {
				return
			}
			if r.got.Add(1) == r.target.Load() {
				r.done <- struct{}{}
			}
		}
	}()
	return r
}

// connect runs offer and answer between two raw peers, each description
// carrying every candidate.
func connect(tb testing.TB, a, b *pion.PeerConnection) {
	tb.Helper()
	describe := func(pc *pion.PeerConnection) func(pion.SessionDescription, error) *pion.SessionDescription {
		return func(d pion.SessionDescription, err error) *pion.SessionDescription {
			if err != nil {
				tb.Fatal(err)
			}
			gathered := pion.GatheringCompletePromise(pc)
			if err := pc.SetLocalDescription(d); err != nil {
				tb.Fatal(err)
			}
			<-gathered
			return pc.LocalDescription()
		}
	}
	offer := describe(a)(a.CreateOffer(nil))
	if err := b.SetRemoteDescription(*offer); err != nil {
		tb.Fatal(err)
	}
	answer := describe(b)(b.CreateAnswer(nil))
	if err := a.SetRemoteDescription(*answer); err != nil {
		tb.Fatal(err)
	}
}

// run sends n messages of payload and waits until the reader has them all.
func (r *rawSide) run(tb testing.TB, n int, payload []byte, high int) {
	r.got.Store(0)
	r.target.Store(int64(n))
	for range n {
		// As the actor: a message that would pass the mark waits for
		// the buffer to drain to the low-water mark.
		for b := int(r.dc.BufferedAmount()); b > 0 && b+len(payload) > high; b = int(r.dc.BufferedAmount()) {
			<-r.low
		}
		if _, err := r.w.Write(payload); err != nil {
			tb.Fatal(err)
		}
	}
	<-r.done
}

var (
	dcRounds = flag.Int("dc.rounds", 6, "BenchmarkDataChannel16K: rounds per side, alternating")
	dcN      = flag.Int("dc.n", 1000, "BenchmarkDataChannel16K: messages per round")
	dcWindow = flag.Int("dc.window", 0, "BenchmarkDataChannel16K: the actor writer's Sends in flight; default (HighWater-LowWater)/2 of them")
	dcOnly   = flag.String("dc.only", "", "BenchmarkDataChannel16K: run only this side's rounds (actors or raw), for a profile of one side")
)

// BenchmarkDataChannel16K sends 16 KiB messages between two loopback peers
// through the actors and through raw pion with the same settings, in
// alternating rounds (-dc.rounds, default 6, of -dc.n messages, default
// 1000; -benchtime does not apply: one run is the whole comparison), and
// prints the actors' throughput and CPU per message as ratios to raw
// pion's.
func BenchmarkDataChannel16K(b *testing.B) {
	const size = 16 << 10
	payload := make([]byte, size) // read only: SCTP copies what it sends
	opts := loopbackOptions()
	opts.HighWater, opts.LowWater = 1<<20, 256<<10 // the defaults, spelled out for the raw side

	raw := newRawSide(b, webrtc.PionAPI(opts), opts)
	e := newEnv(b)
	_, _, openA, openB := e.pair("bench", nil, opts, opts)
	chA, chB := openA.Channel, openB.Channel

	type side struct {
		name      string
		run       func(n int)
		wall, cpu time.Duration
		rounds    []float64 // MB/s
	}
	rawRun := &side{name: "raw pion", run: func(n int) { raw.run(b, n, payload, opts.HighWater) }}
	// The writer keeps as many Sends in flight as half the room between
	// the marks holds, as Options advises: every Send in flight when
	// writing is suspended is refused and sent again.
	window := *dcWindow
	if window <= 0 {
		window = (opts.HighWater - opts.LowWater) / 2 / size
	}
	var suspensions, refused int
	actorRun := &side{name: "actors", run: func(n int) {
		p, err := pumpThrough(b, e.system, chA, chB, n, window, func(int) []byte { return payload }, nil)
		if err != nil {
			b.Fatal(err)
		}
		suspensions += p.refusals
		refused += p.refused
	}}
	measure := func(s *side, n int) {
		if *dcOnly != "" && !strings.HasPrefix(s.name, *dcOnly) {
			s.rounds = append(s.rounds, 1) // not run
			return
		}
		runtime.GC()
		c0, t0 := cputime.Process(), time.Now()
		s.run(n)
		wall, cpu := time.Since(t0), cputime.Process()-c0
		s.wall += wall
		s.cpu += cpu
		s.rounds = append(s.rounds, float64(n)*size/1e6/wall.Seconds())
	}
	// Warm both associations up (congestion windows, allocations) so that
	// neither side of the comparison pays the start alone.
	rawRun.run(500)
	actorRun.run(500)

	suspensions, refused = 0, 0
	n := *dcN
	b.ResetTimer()
	for i := range *dcRounds {
		first, second := rawRun, actorRun
		if i%2 == 1 {
			first, second = actorRun, rawRun
		}
		measure(first, n)
		measure(second, n)
	}
	b.StopTimer()

	total := float64(*dcRounds*n) * size / 1e6
	rawMBps, actorMBps := total/rawRun.wall.Seconds(), total/actorRun.wall.Seconds()
	ratio := actorMBps / rawMBps
	b.ReportMetric(rawMBps, "raw-MB/s")
	b.ReportMetric(actorMBps, "actors-MB/s")
	b.ReportMetric(ratio, "ratio")
	perRound := make([]string, len(rawRun.rounds))
	ratios := make([]float64, len(rawRun.rounds))
	for i := range perRound {
		ratios[i] = actorRun.rounds[i] / rawRun.rounds[i]
		perRound[i] = fmt.Sprintf("%.2f (%.0f/%.0f)", ratios[i], actorRun.rounds[i], rawRun.rounds[i])
	}
	slices.Sort(ratios)
	fmt.Printf("# webrtc data channel, 16 KiB messages, %d rounds of %d per side alternating, writer window %d, marks %d/%d; raw pion: same settings, detached, reader consumes in place\n",
		*dcRounds, n, window, opts.HighWater, opts.LowWater)
	fmt.Printf("# actors %.1f MB/s, raw pion %.1f MB/s; per round %s\n", actorMBps, rawMBps, strings.Join(perRound, " "))
	fmt.Printf("# actors: %d suspensions, %d Sends refused and sent again, for %d messages\n", suspensions, refused, *dcRounds*n)
	fmt.Printf("dc-16k throughput actors/raw-pion: %.2f\n", ratio)
	// A round that met one of SCTP's retransmission timeouts (a second
	// or more) moves the total; the median round does not.
	fmt.Printf("dc-16k throughput actors/raw-pion, median round: %.2f\n", ratios[len(ratios)/2])
	if rawRun.cpu > 0 {
		cpuRatio := float64(actorRun.cpu) / float64(rawRun.cpu)
		b.ReportMetric(cpuRatio, "cpu-ratio")
		fmt.Printf("dc-16k cpu/msg actors/raw-pion: %.2f\n", cpuRatio)
	}
}
