package perf

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	nbiolog "github.com/lesismal/nbio/logging"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// gnetEcho is gnet's own echo. gnet and nbio are the event-loop libraries
// issue 11's targets were set against (gnet at 0.80x raw Go's CPU per
// message there); measured in this harness beside the actors, their ratios
// say what an event loop achieves here.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	live  atomic.Int64
	ready chan gnet.Engine
}

func (e *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	e.ready <- eng
	return gnet.None
}

func (e *gnetEcho) OnOpen(gnet.Conn) ([]byte, gnet.Action) {
	e.live.Add(1)
	return nil, gnet.None
}

func (e *gnetEcho) OnClose(gnet.Conn, error) gnet.Action {
	e.live.Add(-1)
	return gnet.None
}

func (e *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	_, _ = c.Write(b)
	return gnet.None
}

// freePort returns a loopback address whose port was free a moment ago,
// for the libraries that bind the address they are given.
func freePort() (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort(), nil
}

// gnetServer runs gnet's echo with one loop per core (its own default).
func gnetServer() (*echoServer, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &gnetEcho{ready: make(chan gnet.Engine, 1)}
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(e, "tcp://"+addr.String(), gnet.WithMulticore(true), gnet.WithLogger(quietLog{}))
	}()
	var eng gnet.Engine
	select {
	case eng = <-e.ready:
	case err := <-done:
		return nil, err
	case <-time.After(10 * time.Second):
		return nil, context.DeadlineExceeded
	}
	return &echoServer{
		addr:  addr,
		conns: func() int { return int(e.live.Load()) },
		stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = eng.Stop(ctx)
			<-done
		},
	}, nil
}

// nbioServer runs nbio's echo with its defaults (NumCPU/4 pollers, at
// least one: one on this project's 2-core machines).
func nbioServer() (*echoServer, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	var live atomic.Int64
	g := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr.String()}})
	g.OnOpen(func(*nbio.Conn) { live.Add(1) })
	g.OnClose(func(*nbio.Conn, error) { live.Add(-1) })
	g.OnData(func(c *nbio.Conn, b []byte) { _, _ = c.Write(b) })
	if err := g.Start(); err != nil {
		return nil, err
	}
	return &echoServer{addr: addr, conns: func() int { return int(live.Load()) }, stop: g.Stop}, nil
}

func init() {
	serverSides["gnet"] = gnetServer
	serverSides["nbio"] = nbioServer
	// The child speaks to the test on stdout, where both libraries log.
	logging.SetDefaultLoggerAndFlusher(quietLog{}, nil)
	nbiolog.SetLevel(nbiolog.LevelNone)
}

// quietLog drops gnet's log lines.
type quietLog struct{}

func (quietLog) Debugf(string, ...any) {}
func (quietLog) Infof(string, ...any)  {}
func (quietLog) Warnf(string, ...any)  {}
func (quietLog) Errorf(string, ...any) {}
func (quietLog) Fatalf(string, ...any) {}
