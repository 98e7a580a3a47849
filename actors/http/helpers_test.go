package http_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/netconn"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// newSystem returns a test actor system with an inspect registry.
func newSystem(t testing.TB) (*actor.ActorSystem, *inspect.Registry) {
	return testkit.NewInspectedSystem(t)
}

// startServer spawns a server actor named "web" and returns its PID and
// first endpoint; the server stops with the test.
func startServer(t testing.TB, system *actor.ActorSystem, opts httpactor.Options) (*actor.PID, netip.AddrPort) {
	t.Helper()
	pid, err := inspect.Spawn(system.Root, httpactor.Props(opts), "web", httpactor.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	b, ok := res.(*httpmsg.Bound)
	if !ok || len(b.Endpoints) == 0 {
		t.Fatalf("GetBound: %T %+v", res, res)
	}
	return pid, b.Endpoints[0].Addr
}

// echoActor answers each request with its method, path and body.
func echoActor(system *actor.ActorSystem) *actor.PID {
	return system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{
				Header: nethttp.Header{"Content-Type": {"text/plain"}},
				Body:   fmt.Appendf(nil, "%s %s %s", req.Method, req.Path, req.Body),
			})
		}
	}))
}

func stopActor(t testing.TB, system *actor.ActorSystem, pid *actor.PID) {
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
}

// newClient returns a Go HTTP client whose idle connections close with the
// test.
func newClient(t testing.TB) *nethttp.Client {
	tr := &nethttp.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &nethttp.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t testing.TB, c *nethttp.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// rawConn dials addr; it closes with the test.
func rawConn(t testing.TB, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// readResponses reads up to n responses from br, stopping at end of stream.
func readResponses(br *bufio.Reader, n int) ([]*nethttp.Response, []string, error) {
	var resps []*nethttp.Response
	var bodies []string
	for range n {
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			return resps, bodies, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return resps, bodies, err
		}
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
	return resps, bodies, nil
}

// closedAfter reports whether the server ends the connection (EOF or reset)
// once what br holds is read.
func closedAfter(br *bufio.Reader) bool {
	_, err := br.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// simTLSClient is a Go HTTP client whose connections are TLS streams that
// host dials to addr on a simulated network, trusting leaf; its idle
// connections close with the test.
func simTLSClient(t testing.TB, host transports.Network, addr netip.AddrPort, leaf *x509.Certificate) *nethttp.Client {
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &nethttp.Transport{DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		s, err := host.Dial(ctx, addr, transports.DialOptions{TLS: &tls.Config{RootCAs: pool, ServerName: leaf.DNSNames[0]}})
		if err != nil {
			return nil, err
		}
		return netconn.New(s, 0)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &nethttp.Client{Transport: tr, Timeout: 10 * time.Second}
}

// forEngine runs f once with each engine.
func forEngine(t *testing.T, f func(t *testing.T, engine httpactor.Engine)) {
	for _, e := range []httpactor.Engine{httpactor.EngineNetHTTP, httpactor.EngineEventLoop} {
		t.Run(e.String(), func(t *testing.T) { f(t, e) })
	}
}
