package http_test

import (
	"io"
	"net"
	nethttp "net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
)

const benchClients = 8

// hammer sends n keep-alive GETs to url from benchClients goroutines and
// returns the requests per second.
func hammer(b *testing.B, url string, n int) float64 {
	tr := &nethttp.Transport{MaxIdleConnsPerHost: benchClients}
	defer tr.CloseIdleConnections()
	c := &nethttp.Client{Transport: tr, Timeout: 10 * time.Second}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkHTTPHello compares keep-alive "hello" requests from 8 concurrent
// clients on loopback: a plain net/http server, this server with the same
// handler mounted (netconn, framing check, sessions), this server with an
// actor answering, and the event-loop engine with the same actor. It
// reports requests per second and the ratios to plain net/http; the
// clients share the process, so tests/perf's BenchmarkHTTP (wrk, servers in
// child processes, CPU per request) is the figure to quote.
func BenchmarkHTTPHello(b *testing.B) {
	hello := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) { io.WriteString(w, "hello") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	plain := &nethttp.Server{Handler: hello}
	go plain.Serve(ln)
	defer plain.Close()

	system, _ := newSystem(b)
	actorHello := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{Body: []byte("hello")})
		}
	}))
	stopActor(b, system, actorHello)
	_, addr := startServer(b, system, httpactor.Options{Routes: []httpactor.Route{
		{Pattern: "/mounted", Handler: hello},
		{Pattern: "/actor", Actor: actorHello},
	}})

	ev := system.Root.Spawn(httpactor.Props(onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/actor", Actor: actorHello}}})))
	stopActor(b, system, ev)
	res, err := system.Root.RequestFuture(ev, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		b.Fatal(err)
	}
	evAddr := res.(*httpmsg.Bound).Endpoints[0].Addr

	b.ResetTimer()
	plainRate := hammer(b, "http://"+ln.Addr().String()+"/", b.N)
	mountedRate := hammer(b, "http://"+addr.String()+"/mounted", b.N)
	actorRate := hammer(b, "http://"+addr.String()+"/actor", b.N)
	evRate := hammer(b, "http://"+evAddr.String()+"/actor", b.N)
	b.StopTimer()
	b.ReportMetric(plainRate, "plain-req/s")
	b.ReportMetric(mountedRate, "mounted-req/s")
	b.ReportMetric(actorRate, "actor-req/s")
	b.ReportMetric(evRate, "evloop-actor-req/s")
	b.ReportMetric(actorRate/plainRate, "ratio")
	b.Logf("http-hello: ratio actor/plain %.2f, mounted/plain %.2f, event-loop actor/plain %.2f (plain %.0f req/s, mounted %.0f, actor %.0f, event-loop actor %.0f; N=%d, %d clients)",
		actorRate/plainRate, mountedRate/plainRate, evRate/plainRate, plainRate, mountedRate, actorRate, evRate, b.N, benchClients)
}
