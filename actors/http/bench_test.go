package http_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	nethttp "net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// BenchmarkEventLoopAllocsPerRequest counts what the event-loop engine
// allocates for a keep-alive GET answered in place by a handler actor
// spawned with dispatch.HereProps, the path tests/perf's HTTP comparison
// measures. The client is a plain socket that writes a prepared request
// and reads the answer, whose length does not change, into one buffer: it
// allocates nothing, so the process's allocations per request are the
// server's (the handler's Response included). Reported as allocs/req and
// B/req: 7 and 1,080 B at the time of writing (the request with its
// message, URL and envelope; its header map; the handler's Response; four
// short strings from the parser), 13 and 1,432 B before the read buffer,
// URL, envelope and write queue stopped being allocated.
func BenchmarkEventLoopAllocsPerRequest(b *testing.B) {
	system, _ := newSystem(b)
	body := []byte("hello")
	hello := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{Body: body})
		}
	})))
	stopActor(b, system, hello)
	_, addr := startServer(b, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: hello}}}))
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	// One request through net/http's reader gives the answer's length.
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	cr := &countingReader{r: c}
	resp, err := nethttp.ReadResponse(bufio.NewReaderSize(cr, 16), nil)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := io.ReadAll(resp.Body); string(got) != "hello" {
		b.Fatalf("answer %q", got)
	}
	buf := make([]byte, cr.n)
	round := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 { // warm the pools
		round()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if !bytes.HasSuffix(buf, body) {
		b.Fatalf("last answer %q", buf)
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/req")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/req")
}
