package evloop

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// A loop echoing messages one at a time allocates nothing per message:
// not in its wait for events (a variable captured by a callback there once
// cost an allocation per turn), its reads (pooled buffers: 1 KiB messages,
// since reads of up to 256 B are allocated, which is cheaper than a pool)
// or its direct writes. Both ends are streams of one loop, so no other goroutine of the
// test runs meanwhile; each end gives a read back once it is done with it.
// Built with the race detector the loop's system calls are other ones and
// sync.Pool drops buffers on purpose, so this runs without it (make test
// runs this package so too).
func TestAnEchoAllocatesNothingPerMessage(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts differ under the race detector; make test runs this package without it")
	}
	n := New(Options{Loops: 1, Coalesce: -1})
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lclosed := make(chan struct{})
	sclosed := make(chan struct{})
	l.Start(transports.ListenerFuncs{
		Accept: func(s transports.Stream) {
			_ = s.Start(transports.StreamFuncs{
				Data: func(b []byte) {
					if k, err := s.(transports.DirectWriter).WriteDirect(b); err == nil && k == len(b) {
						s.(transports.Recycler).Recycle(b)
					}
				},
				Closed: func(error) { close(sclosed) },
			})
		},
		Closed: func(error) { close(lclosed) },
	})
	t.Cleanup(func() { _ = l.Close(); <-lclosed })

	const warm, trips = 500, 5000
	msg := make([]byte, 1024)
	reached := make(chan struct{}, 1)
	var client transports.Stream
	got, sent := 0, 0
	send := func() {
		sent++
		if _, err := client.(transports.DirectWriter).WriteDirect(msg); err != nil {
			t.Error(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err = n.Dial(ctx, l.Addr(), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cclosed := make(chan struct{})
	if err := client.Start(transports.StreamFuncs{
		Data: func(b []byte) {
			got += len(b)
			client.(transports.Recycler).Recycle(b)
			if got < len(msg)*sent {
				return
			}
			if sent == warm || sent == warm+trips {
				reached <- struct{}{} // the test goes on from here
				return
			}
			send()
		},
		Closed: func(error) { close(cclosed) },
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); <-cclosed; <-sclosed })
	wait := func() {
		t.Helper()
		select {
		case <-reached:
		case <-time.After(20 * time.Second):
			t.Fatalf("the echo stopped after %d messages", sent)
		}
	}

	send()
	wait()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	send()
	wait()
	runtime.ReadMemStats(&after)
	if per := float64(after.Mallocs-before.Mallocs) / trips; per > 0.05 {
		t.Fatalf("%.2f allocations per message echoed (%d over %d)", per, after.Mallocs-before.Mallocs, trips)
	}
	t.Logf("%d allocations over %d messages", after.Mallocs-before.Mallocs, trips)
}
