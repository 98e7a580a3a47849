package evloop_test

import (
	"context"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
)

// Thousands of connect, echo, close cycles leave no goroutine, loop or
// descriptor behind: each loop ends with its last socket.
func TestConnectCloseCyclesLeaveNothingBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	n := evloop.New(evloop.Options{Loops: 2})
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var serverClosed atomic.Int64
	lclosed := make(chan struct{})
	l.Start(transports.ListenerFuncs{
		Accept: func(s transports.Stream) {
			s.Start(transports.StreamFuncs{
				Data:   func(b []byte) { s.Write(b) },
				Closed: func(error) { serverClosed.Add(1) },
			})
		},
		Closed: func(error) { close(lclosed) },
	})
	const cycles = 2000
	deadline := time.Now().Add(60 * time.Second)
	for i := range cycles {
		if time.Now().After(deadline) {
			t.Fatalf("only %d cycles in a minute", i)
		}
		c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{}, 1)
		done := make(chan error, 1)
		c.Start(transports.StreamFuncs{
			Data:   func([]byte) { got <- struct{}{} },
			Closed: func(err error) { done <- err },
		})
		c.Write([]byte("x"))
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: no echo", i)
		}
		if i%2 == 0 {
			c.Close()
		} else {
			c.Abort()
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: no OnClosed", i)
		}
	}
	for i := 0; i < 1000 && serverClosed.Load() < cycles; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := serverClosed.Load(); got != cycles {
		t.Fatalf("server saw %d of %d streams end", got, cycles)
	}
	l.Close()
	<-lclosed
	for i := 0; i < 500 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after the last socket closed, %d before", g, before)
	}
}
