package websocket_test

import (
	"bufio"
	"context"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// fuzzServer starts an HTTP server actor with an echo WebSocket route on
// GET /ws and returns its address; it stops with tb.
func fuzzServer(tb testing.TB) netip.AddrPort {
	tb.Helper()
	system := testkit.NewSystem(tb)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	ws := websocket.Options{NewHandler: echoHandler, MaxMessage: 64 << 10}
	pid, err := inspect.Spawn(system.Root, httpactor.Props(httpactor.Options{
		Endpoints: []httpactor.Endpoint{{Addr: netip.MustParseAddrPort("127.0.0.1:0")}},
		Routes:    []httpactor.Route{{Pattern: "GET /ws", WebSocket: &ws}},
	}), "web", httpactor.Kind, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		tb.Fatal(err)
	}
	return res.(*httpmsg.Bound).Endpoints[0].Addr
}

// upgradeRaw opens a WebSocket to addr by hand and returns the raw
// connection after the 101 answer.
func upgradeRaw(t *testing.T, addr netip.AddrPort) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != nethttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return c, br
}

// FuzzFrames sends fuzzed bytes as client frames on an upgraded
// WebSocket: the server echoes or closes, within a bound, and a well-formed
// client that connects afterwards is still echoed.
func FuzzFrames(f *testing.F) {
	mask := []byte{1, 2, 3, 4}
	masked := func(op byte, payload string) []byte {
		b := []byte{0x80 | op, 0x80 | byte(len(payload))}
		b = append(b, mask...)
		for i := range len(payload) {
			b = append(b, payload[i]^mask[i%4])
		}
		return b
	}
	f.Add(masked(0x1, "hello"))                                      // text
	f.Add(masked(0x2, "\x00\x01"))                                   // binary
	f.Add(masked(0x9, "ping"))                                       // ping
	f.Add(masked(0x8, "\x03\xe8bye"))                                // close 1000
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'})               // unmasked: a protocol error
	f.Add([]byte{0x01, 0x83, 1, 2, 3, 4, 'a', 'b', 'c'})             // fragment without its end
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0xff, 0, 0, 0, 1, 2, 3, 4}) // 64-bit length
	f.Add(append(masked(0x1, "\xff\xfe"), masked(0x1, "ok")...))     // invalid UTF-8 text
	f.Add([]byte{0x8f, 0x80, 1, 2, 3, 4})                            // reserved opcode
	addr := fuzzServer(f)
	f.Fuzz(func(t *testing.T, frames []byte) {
		if len(frames) > 128<<10 {
			return
		}
		c, br := upgradeRaw(t, addr)
		_, _ = c.Write(frames)
		_ = c.(*net.TCPConn).CloseWrite()
		// The server echoes, answers or closes; it must end the stream
		// within the deadline once the client has.
		if _, err := io.Copy(io.Discard, io.LimitReader(br, 8<<20)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server kept the socket open 5s after %.200q", frames)
			}
		}
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		good, _, err := cws.Dial(ctx, "ws://"+addr.String()+"/ws", nil)
		if err != nil {
			t.Fatalf("after %.200q: dial: %v", frames, err)
		}
		defer good.CloseNow()
		if err := good.Write(ctx, cws.MessageText, []byte("still")); err != nil {
			t.Fatal(err)
		}
		typ, got, err := good.Read(ctx)
		if err != nil || typ != cws.MessageText || string(got) != strings.ToUpper("still") {
			t.Fatalf("after %.200q: echo %v %q %v", frames, typ, got, err)
		}
		_ = good.Close(cws.StatusNormalClosure, "")
	})
}
