package perf

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/osnet"
)

// echoServer is an echo service under test.
type echoServer struct {
	addr  netip.AddrPort
	conns func() int // live server-side connections
	stop  func()
}

// serverSides are the echo servers compared; "raw" is the baseline.
var serverSides = map[string]func() (*echoServer, error){
	"raw":          rawServer,
	"actor-osnet":  func() (*echoServer, error) { return actorServer(osnet.New(osnet.Options{})) },
	"actor-evloop": func() (*echoServer, error) { return actorServer(evloop.New(evloop.Options{})) },
	"actor-evloop-1loop": func() (*echoServer, error) {
		return actorServer(evloop.New(evloop.Options{Loops: 1}))
	},
	// evloop's read size before it became 64 KiB.
	"actor-evloop-read32k": func() (*echoServer, error) {
		return actorServerRead(evloop.New(evloop.Options{}), 32<<10)
	},
	"actor-evloop-nocoalesce": func() (*echoServer, error) {
		return actorServer(evloop.New(evloop.Options{Coalesce: -1}))
	},
	// With as many loops as Ps (here 2), the loops park in Go's poller.
	"actor-evloop-2loops": func() (*echoServer, error) {
		return actorServer(evloop.New(evloop.Options{Loops: 2}))
	},
	"evloop-direct":       func() (*echoServer, error) { return directServer(evloop.Options{}) },
	"evloop-direct-1loop": func() (*echoServer, error) { return directServer(evloop.Options{Loops: 1}) },
	"chain-evloop":        chainServer,
}

// chainServer is the echo service as the demo runs it: EchoSpec on evloop
// under a runtime chain, whose registry tracks every actor (the console's
// tree and counters) and whose dispatch pool runs the mailboxes.
func chainServer() (*echoServer, error) {
	quiet := slog.New(slog.DiscardHandler)
	r := runtime.New(runtime.Options{
		Name:   "chain",
		Logger: quiet,
		Children: []supervisor.ChildSpec{tcp.EchoSpec("echo", netip.MustParseAddrPort("127.0.0.1:0"),
			tcp.WithNetwork(evloop.New(evloop.Options{})), tcp.WithMaxConnections(1<<20))},
	})
	if err := r.Start(); err != nil {
		return nil, err
	}
	echo := actor.NewPID(r.System().Address(), "chain/echo")
	stats := func() (*tcpmsg.ListenerStats, error) {
		res, err := r.System().Root.RequestFuture(echo, &tcpmsg.GetStats{}, 5*time.Second).Result()
		if err != nil {
			return nil, err
		}
		st, ok := res.(*tcpmsg.ListenerStats)
		if !ok {
			return nil, fmt.Errorf("stats: %v", res)
		}
		return st, nil
	}
	st, err := stats()
	if err != nil {
		_, _ = r.Stop(context.Background())
		return nil, err
	}
	return &echoServer{
		addr: st.Local,
		conns: func() int {
			st, err := stats()
			if err != nil {
				return -1
			}
			return st.Connections
		},
		stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = r.Stop(ctx)
		},
	}, nil
}

// actorServer is microstack's echo service as EchoSpec builds it: the TCP
// listener actor, a connection actor per connection running the echo
// behaviour, mailboxes on the dispatch pool a chain installs, on network n.
func actorServer(n transports.Network) (*echoServer, error) { return actorServerRead(n, 0) }

func actorServerRead(n transports.Network, readSize int) (*echoServer, error) {
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pool := dispatch.NewPool(dispatch.Options{})
	dispatch.Install(system, pool)
	pid := system.Root.Spawn(tcp.ListenerProps(tcp.ListenerOptions{Network: n, Behavior: tcp.EchoBehavior, MaxConnections: 1 << 20,
		Socket: tcpmsg.SocketOptions{ReadSize: readSize}}))
	res, err := system.Root.RequestFuture(pid, &tcpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")}, 5*time.Second).Result()
	if err != nil {
		return nil, err
	}
	b, ok := res.(*tcpmsg.Bound)
	if !ok {
		return nil, fmt.Errorf("bind: %v", res)
	}
	return &echoServer{
		addr: b.Local,
		conns: func() int {
			r, err := system.Root.RequestFuture(pid, &tcpmsg.GetStats{}, 5*time.Second).Result()
			if err != nil {
				return -1
			}
			return r.(*tcpmsg.ListenerStats).Connections
		},
		stop: func() {
			_ = system.Root.StopFuture(pid).Wait()
			system.Shutdown()
			pool.Close()
		},
	}, nil
}

// rawServer is the usual Go echo: a goroutine per connection copying
// through a 32 KiB buffer (io.Copy's size, and the actors' read size).
func rawServer() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var (
		live  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			live.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer live.Add(-1)
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return &echoServer{
		addr:  ln.Addr().(*net.TCPAddr).AddrPort(),
		conns: func() int { return int(live.Load()) },
		stop: func() {
			_ = ln.Close()
			mu.Lock()
			for c := range conns {
				_ = c.Close()
			}
			mu.Unlock()
			wg.Wait()
		},
	}, nil
}

// directServer echoes with evloop's streams and no actors: the transport's
// own limit.
func directServer(opts evloop.Options) (*echoServer, error) {
	n := evloop.New(opts)
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		return nil, err
	}
	var (
		live   atomic.Int64
		mu     sync.Mutex
		open   = map[transports.Stream]struct{}{}
		closed = make(chan struct{})
	)
	l.Start(transports.ListenerFuncs{
		Accept: func(s transports.Stream) {
			live.Add(1)
			mu.Lock()
			open[s] = struct{}{}
			mu.Unlock()
			s.Start(transports.StreamFuncs{
				// Written from the loop and, once the kernel took it
				// all, back to the read buffers' pool.
				Data: func(b []byte) {
					if n, err := s.(transports.DirectWriter).WriteDirect(b); err == nil && n == len(b) {
						s.(transports.Recycler).Recycle(b)
					}
				},
				Closed: func(error) {
					live.Add(-1)
					mu.Lock()
					delete(open, s)
					mu.Unlock()
				},
			})
		},
		Closed: func(error) { close(closed) },
	})
	return &echoServer{
		addr:  l.Addr(),
		conns: func() int { return int(live.Load()) },
		stop: func() {
			_ = l.Close()
			<-closed
			mu.Lock()
			for s := range open {
				_ = s.Abort()
			}
			mu.Unlock()
			for i := 0; i < 500 && live.Load() > 0; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		},
	}, nil
}
