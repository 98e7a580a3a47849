package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/tests/perf/loadgen"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// echoServer is a small goroutine-per-connection echo on loopback, closed
// at cleanup.
func echoServer(t testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestEchoCountsRoundTrips(t *testing.T) {
	addr := echoServer(t)
	res, err := loadgen.Echo(context.Background(), loadgen.Config{Addr: addr, Conns: 4, Size: 100, Window: 4,
		Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, Sources: loadgen.Sources(4, 2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Msgs == 0 || res.Bytes != 100*res.Msgs || res.P50 <= 0 || res.P99 < res.P50 {
		t.Fatalf("implausible result %+v", res)
	}
}

func TestHoldOpensIdleConnections(t *testing.T) {
	addr := echoServer(t)
	conns, err := loadgen.Hold(context.Background(), addr, 20, loadgen.Sources(20, 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.Close()
	}
	if len(conns) != 20 {
		t.Fatalf("held %d", len(conns))
	}
}

// Ten connections with four 64-byte messages in flight each, for a second.
func ExampleEcho() {
	res, err := loadgen.Echo(context.Background(), loadgen.Config{
		Addr: netip.MustParseAddrPort("127.0.0.1:7007"), Conns: 10, Size: 64, Window: 4, Duration: time.Second,
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res) // "123456 msgs/s, 7.9 MB/s, p50 ..., p99 ..."
}
