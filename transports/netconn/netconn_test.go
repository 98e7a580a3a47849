package netconn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/netconn"
	"github.com/microstack-go/microstack/transports/osnet"
	"github.com/microstack-go/microstack/transports/sim"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

type side struct {
	name           string
	server, client transports.Network
	addr           netip.AddrPort // where the server listens
}

func networks(t *testing.T) []side {
	os := osnet.New(osnet.Options{})
	simnet := sim.New(sim.Config{Seed: 1, Link: sim.LinkConfig{Latency: time.Millisecond}})
	srv := simnet.AddHost("server", netip.MustParseAddr("10.0.0.1"))
	cli := simnet.AddHost("client", netip.MustParseAddr("10.0.0.2"))
	return []side{
		{"os", os, os, netip.MustParseAddrPort("127.0.0.1:0")},
		{"sim", srv, cli, netip.MustParseAddrPort("10.0.0.1:80")},
	}
}

// net/http's server and client, unchanged, over both networks.
func TestNetHTTPRunsOverStreams(t *testing.T) {
	for _, n := range networks(t) {
		t.Run(n.name, func(t *testing.T) {
			l, err := n.server.Listen(n.addr, transports.ListenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			nl, err := netconn.Listen(l, 0)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.Write(bytes.ToUpper(body))
			})}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(nl) }()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
				<-done
			})
			tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				s, err := n.client.Dial(ctx, nl.Addr().(*net.TCPAddr).AddrPort(), transports.DialOptions{})
				if err != nil {
					return nil, err
				}
				return netconn.New(s, 0)
			}}
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			big := strings.Repeat("abcdefgh", 100_000) // 800 KB: more than the read buffer
			for i, body := range []string{"hello", big, "again"} {
				resp, err := client.Post("http://server/", "text/plain", strings.NewReader(body))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(got) != strings.ToUpper(body) {
					t.Fatalf("request %d: %d bytes, err %v", i, len(got), err)
				}
			}
		})
	}
}

func TestDeadlinesAndClose(t *testing.T) {
	nl, c, peer := dialPair(t)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	if _, err := peer.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	peer.Close()
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("read after peer close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := nl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

// A net/http client reaches a server on the simulated network through a
// netconn.Conn.
func Example() {
	simnet := sim.New(sim.Config{Seed: 7})
	server := simnet.AddHost("server", netip.MustParseAddr("10.0.0.1"))
	client := simnet.AddHost("client", netip.MustParseAddr("10.0.0.2"))
	l, _ := server.Listen(netip.MustParseAddrPort("10.0.0.1:80"), transports.ListenOptions{})
	nl, _ := netconn.Listen(l, 0)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host)
	})}
	go srv.Serve(nl)
	defer srv.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		s, err := client.Dial(ctx, netip.MustParseAddrPort("10.0.0.1:80"), transports.DialOptions{})
		if err != nil {
			return nil, err
		}
		return netconn.New(s, 0)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://server.sim/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	// Output:
	// hello from server.sim
}

// Accept racing Close never returns a nil connection without an error.
func TestAcceptDuringCloseReturnsAnError(t *testing.T) {
	osn := osnet.New(osnet.Options{})
	for i := 0; i < 200; i++ {
		nl := listenLoopback(t, osn)
		got := make(chan error, 1)
		go func() {
			c, err := nl.Accept()
			if c == nil && err == nil {
				got <- errors.New("Accept returned (nil, nil)")
				return
			}
			got <- nil
		}()
		nl.Close()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
}

// A deadline's timer is made once and reset: a deadline moved later does
// not fire at its old time, and one set again after firing fires again.
func TestDeadlinesCanBeMovedAndSetAgain(t *testing.T) {
	_, c, peer := dialPair(t)
	t.Cleanup(func() { c.Close() })
	t.Cleanup(func() { peer.Close() })
	buf := make([]byte, 10)
	for i := range 3 { // set again after each firing
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("round %d: read past deadline: %v", i, err)
		}
	}
	// Moved later before it fires: the data that comes between the two
	// times is read.
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() {
		time.Sleep(150 * time.Millisecond)
		peer.Write([]byte("late"))
	}()
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read %q, %v: the moved deadline fired at its old time", buf[:n], err)
	}
}

// dialPair listens with netconn on an osnet listener on loopback and
// returns the listener, a netconn.Conn dialed to it and the accepted side.
// The listener closes with the test.
func dialPair(t *testing.T) (*netconn.Listener, *netconn.Conn, net.Conn) {
	t.Helper()
	osn := osnet.New(osnet.Options{})
	nl := listenLoopback(t, osn)
	t.Cleanup(func() { nl.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := nl.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	s, err := osn.Dial(context.Background(), netip.MustParseAddrPort(nl.Addr().String()), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := netconn.New(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	return nl, c, <-accepted
}

// listenLoopback listens with netconn on an osnet listener on a free
// loopback port.
func listenLoopback(t *testing.T, osn *osnet.Network) *netconn.Listener {
	t.Helper()
	l, err := osn.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nl, err := netconn.Listen(l, 0)
	if err != nil {
		t.Fatal(err)
	}
	return nl
}

// On the operating system's network a Write goes to the socket from the
// caller's goroutine (the stream is a transports.DirectWriter); what the
// socket cannot take yet is sent by the stream, and Write waits for it, up
// to the write deadline, counting what went directly. The bytes arrive
// whole and in order either way.
func TestWriteWaitsForWhatTheSocketCannotTakeAtOnce(t *testing.T) {
	_, c, peer := dialPair(t)
	t.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	if _, ok := c.Stream().(transports.DirectWriter); !ok {
		t.Fatal("an osnet stream is not a transports.DirectWriter")
	}
	small := []byte("small write")
	if n, err := c.Write(small); err != nil || n != len(small) {
		t.Fatalf("small write: %d %v", n, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the socket takes while the peer does not read
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := c.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= len(big) {
		t.Fatalf("write past what the socket takes: %d of %d, %v; want part of it and the deadline", n, len(big), err)
	}
	c.SetWriteDeadline(time.Time{})
	after := []byte("after the deadline")
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(after)
		done <- err
	}()
	want := append(append(append([]byte(nil), small...), big...), after...)
	got := make([]byte, len(want))
	_ = peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer read other bytes than were written, or in another order")
	}
	if err := <-done; err != nil {
		t.Fatalf("write after the deadline: %v", err)
	}
}

// A deadline moved while a call waits under it wakes the call at the new
// time: earlier, or at once when it has passed (how net/http aborts its
// background read). A Write waiting for the socket is woken the same way.
func TestADeadlineMovedWhileACallWaitsWakesIt(t *testing.T) {
	_, c, peer := dialPair(t)
	t.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	buf := make([]byte, 10)
	for _, move := range []time.Duration{50 * time.Millisecond, -time.Second} {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		go func() {
			time.Sleep(50 * time.Millisecond)
			c.SetReadDeadline(time.Now().Add(move))
		}()
		start := time.Now()
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read under a deadline moved by %v: %v", move, err)
		}
		if waited := time.Since(start); waited > 10*time.Second {
			t.Fatalf("read under a deadline moved by %v returned after %v", move, waited)
		}
	}
	c.SetReadDeadline(time.Time{})

	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	go func() {
		time.Sleep(100 * time.Millisecond)
		c.SetWriteDeadline(time.Now().Add(-time.Second))
	}()
	big := bytes.Repeat([]byte("x"), 64<<20) // more than the socket takes while the peer does not read
	start := time.Now()
	if n, err := c.Write(big); !errors.Is(err, os.ErrDeadlineExceeded) || n >= len(big) {
		t.Fatalf("write under a deadline moved into the past: %d of %d, %v", n, len(big), err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("write under a deadline moved into the past returned after %v", waited)
	}
}
