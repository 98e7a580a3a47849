package osnet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
)

// counting is a stream handler that counts what OnWritten reports.
type counting struct {
	mu      sync.Mutex
	written int
	closed  chan error
}

func newCounting() *counting { return &counting{closed: make(chan error, 1)} }

func (c *counting) OnData([]byte) {}
func (c *counting) OnWritten(n int) {
	c.mu.Lock()
	c.written += n
	c.mu.Unlock()
}
func (c *counting) OnClosed(err error) { c.closed <- err }
func (c *counting) reported() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// dialPeer dials a plain net.Listener on loopback with osnet and returns
// the started stream, its handler and the peer's end.
func dialPeer(t *testing.T, sopts transports.StreamOptions, tlsConf *tls.Config, serverTLS *tls.Config) (transports.Stream, *counting, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(peers)
			return
		}
		if serverTLS != nil {
			tc := tls.Server(c, serverTLS)
			if tc.Handshake() != nil {
				c.Close()
				close(peers)
				return
			}
			c = tc
		}
		peers <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(Options{}).Dial(ctx, ln.Addr().(*net.TCPAddr).AddrPort(), transports.DialOptions{TLS: tlsConf, Stream: sopts})
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := <-peers
	if !ok {
		t.Fatal("the peer did not connect")
	}
	t.Cleanup(func() { peer.Close() })
	h := newCounting()
	if err := s.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Abort()
		<-h.closed
	})
	return s, h, peer
}

// A plain TCP stream writes directly: what the socket takes at once is
// returned and never reported by OnWritten.
func TestWriteDirectHandsBytesToTheKernelAtOnce(t *testing.T) {
	s, h, peer := dialPeer(t, transports.StreamOptions{}, nil, nil)
	dw, ok := s.(transports.DirectWriter)
	if !ok {
		t.Fatal("an osnet stream is not a transports.DirectWriter")
	}
	var want bytes.Buffer
	for i := range 100 {
		b := fmt.Appendf(nil, "message %d;", i)
		want.Write(b)
		n, err := dw.WriteDirect(b)
		if err != nil || n != len(b) {
			t.Fatalf("write %d: took %d of %d: %v", i, n, len(b), err)
		}
	}
	got := make([]byte, want.Len())
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer read %q (%v)", got, err)
	}
	if n := h.reported(); n != 0 {
		t.Fatalf("OnWritten reported %d bytes the writes returned as taken", n)
	}
}

// What the socket cannot take at once is queued ahead of anything written
// later, and only it is reported; writers on several goroutines each see
// their bytes arrive whole and in their order, whether they went directly
// or through the queue. The writers write in rounds, each begun with the
// queue empty, so that the first writes of a round go directly (records
// longer than the send buffer only in part) while the others queue behind.
func TestWriteDirectQueuesTheRestInOrder(t *testing.T) {
	s, h, peer := dialPeer(t, transports.StreamOptions{SendBuffer: 16 << 10}, nil, nil)
	dw := s.(transports.DirectWriter)
	const writers, rounds, perRound = 4, 25, 8
	var queued, took, sum atomic.Int64
	failed := make(chan error, writers)
	go func() {
		for r := range rounds {
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range perRound {
						i := r*perRound + k
						b := fmt.Appendf(nil, "%d:%d:%s;", g, i, strings.Repeat("x", padLen(i)))
						sum.Add(int64(len(b)))
						if i%3 == 0 {
							if err := s.Write(b); err != nil {
								failed <- err
								return
							}
							queued.Add(int64(len(b)))
							continue
						}
						n, err := dw.WriteDirect(b)
						if err != nil {
							failed <- err
							return
						}
						took.Add(int64(n))
						queued.Add(int64(len(b) - n))
					}
				}()
			}
			wg.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for int64(h.reported()) < queued.Load() && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		close(failed)
	}()
	_ = peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReaderSize(peer, 4096)
	next := make([]int, writers)
	read := 0
	for done := 0; done < writers*rounds*perRound; done++ {
		rec, err := br.ReadString(';')
		if err != nil {
			t.Fatalf("after %d records: %v", done, err)
		}
		read += len(rec)
		parts := strings.SplitN(strings.TrimSuffix(rec, ";"), ":", 3)
		if len(parts) != 3 {
			t.Fatalf("record %d is garbled: %.60q", done, rec)
		}
		g, err1 := strconv.Atoi(parts[0])
		i, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil || g < 0 || g >= writers || strings.Trim(parts[2], "x") != "" || len(parts[2]) != padLen(i) {
			t.Fatalf("record %d is garbled: %.60q", done, rec)
		}
		if i != next[g] {
			t.Fatalf("writer %d: record %d came where %d was due", g, i, next[g])
		}
		next[g]++
	}
	for err := range failed {
		t.Fatal(err)
	}
	if int64(read) != sum.Load() {
		t.Fatalf("read %d bytes of %d written", read, sum.Load())
	}
	waitFor(t, "OnWritten to report the queued bytes", func() bool { return int64(h.reported()) == queued.Load() })
	if took.Load() == 0 {
		t.Fatalf("no write went directly (%d bytes)", sum.Load())
	}
	t.Logf("%d of %d bytes went directly", took.Load(), sum.Load())
}

// padLen is the padding of a record of TestWriteDirectQueuesTheRestInOrder.
func padLen(i int) int { return (i * 977) % (24 << 10) }

// Over TLS nothing is written directly: WriteDirect queues everything,
// which OnWritten reports.
func TestWriteDirectOverTLSQueues(t *testing.T) {
	cert, err := certs.SelfSigned(certs.Options{Hosts: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	s, h, peer := dialPeer(t, transports.StreamOptions{}, &tls.Config{InsecureSkipVerify: true}, &tls.Config{Certificates: []tls.Certificate{cert}})
	b := []byte("over tls")
	n, err := s.(transports.DirectWriter).WriteDirect(b)
	if err != nil || n != 0 {
		t.Fatalf("WriteDirect over TLS took %d (%v), want 0: it queues", n, err)
	}
	got := make([]byte, len(b))
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != string(b) {
		t.Fatalf("peer read %q (%v)", got, err)
	}
	waitFor(t, "OnWritten", func() bool { return h.reported() == len(b) })
}

// A direct write to a peer that reset the connection ends the stream with
// the error, reported by OnClosed.
func TestWriteDirectFailureEndsTheStream(t *testing.T) {
	s, h, peer := dialPeer(t, transports.StreamOptions{}, nil, nil)
	_ = peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // RST
	dw := s.(transports.DirectWriter)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := dw.WriteDirect([]byte("into a reset connection"))
		if err != nil {
			break // the stream has ended
		}
		select {
		case err := <-h.closed:
			if err == nil {
				t.Fatal("OnClosed(nil) after a reset")
			}
			h.closed <- err // for the cleanup
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("writes into a reset connection never failed")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-h.closed:
		if err == nil {
			t.Fatal("OnClosed(nil) after a reset")
		}
		h.closed <- err
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClosed after a failed write")
	}
}

// A direct write the socket takes only in part has its rest queued ahead
// of a write queued while it was being made: the bytes arrive in the order
// the writes were accepted.
func TestWriteDirectRestGoesAheadOfWritesQueuedMeanwhile(t *testing.T) {
	s, h, peer := dialPeer(t, transports.StreamOptions{SendBuffer: 16 << 10}, nil, nil)
	big := bytes.Repeat([]byte("a"), 1<<20) // more than the socket takes while the peer does not read
	second := []byte("second")
	hook := func(hs *stream) {
		if hs != s {
			return
		}
		// Another writer comes while the direct write is being made.
		if err := s.Write(second); err != nil {
			t.Error(err)
		}
	}
	directHook.Store(&hook)
	defer directHook.Store(nil)
	n, err := s.(transports.DirectWriter).WriteDirect(big)
	directHook.Store(nil)
	if err != nil || n == 0 || n == len(big) {
		t.Fatalf("took %d of %d (%v): want a part", n, len(big), err)
	}
	got := make([]byte, len(big)+len(second))
	_ = peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(big)], big) || !bytes.Equal(got[len(big):], second) {
		i := bytes.Index(got, second)
		t.Fatalf("the write queued meanwhile came at byte %d, before the rest of the direct write (%d bytes)", i, len(big))
	}
	waitFor(t, "OnWritten", func() bool { return h.reported() == len(big)-n+len(second) })
}
