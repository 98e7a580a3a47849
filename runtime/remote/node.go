package remote

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	premote "github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/types/known/emptypb"
)

// DefaultShutdownTimeout bounds how long closing a node waits for each of
// protoactor's endpoint actors to stop.
const DefaultShutdownTimeout = 2 * time.Second

// node is protoactor's remote layer (and, for cluster members and
// controllers, its cluster) started on one actor system.
type node struct {
	system  *actor.ActorSystem
	remote  *premote.Remote
	cluster *cluster.Cluster
	// provider is the cluster provider this package made, closed with the
	// node.
	provider interface{ Shutdown(bool) error }
	health   net.Listener
	refused  atomic.Int64
	log      *slog.Logger
	timeout  time.Duration
	member   bool
	once     sync.Once
}

// nodeConfig says how to start a node.
type nodeConfig struct {
	listen    string
	advertise string
	security  Security
	log       *slog.Logger
	timeout   time.Duration
	// clusterCfg, when set, starts a cluster member (member true) or
	// client instead of the bare remote layer.
	clusterCfg func(*premote.Config) (*cluster.Config, error)
	member     bool
}

// startNode starts protoactor's remote layer on system, listening on
// cfg.listen. protoactor panics when it cannot listen; that comes back as
// an error.
func startNode(system *actor.ActorSystem, cfg nodeConfig) (*node, error) {
	n := &node{system: system, log: cfg.log, timeout: cfg.timeout, member: cfg.member && cfg.clusterCfg != nil}
	if n.timeout <= 0 {
		n.timeout = DefaultShutdownTimeout
	}
	host, port, err := splitListen(cfg.listen)
	if err != nil {
		return nil, err
	}
	srvOpts, dialOpts, err := cfg.security.grpcOptions(&n.refused, func(from net.Addr, err error) {
		n.log.Warn("remote: refused a connection from an untrusted node", "from", from.String(), "err", err)
	})
	if err != nil {
		return nil, err
	}
	opts := []premote.ConfigOption{premote.WithDialOptions(dialOpts...), premote.WithServerOptions(srvOpts...)}
	if cfg.advertise != "" {
		opts = append(opts, premote.WithAdvertisedHost(cfg.advertise))
	}
	rcfg := premote.Configure(host, port, opts...)
	// protoactor retries a failed connection 5 times, 2 s apart, inside the
	// endpoint writer, holding every message for that peer meanwhile; one
	// attempt lets a request to a dead node fail at once (ErrUnreachable),
	// and the next message makes a new attempt.
	rcfg.MaxRetryCount = 1
	if cfg.clusterCfg == nil {
		n.remote = premote.NewRemote(system, rcfg)
		if err := protect(n.remote.Start); err != nil {
			return nil, fmt.Errorf("remote: listen on %s: %w", cfg.listen, err)
		}
		return n, nil
	}
	ccfg, err := cfg.clusterCfg(rcfg)
	if err != nil {
		return nil, err
	}
	n.cluster = cluster.New(system, ccfg)
	start := n.cluster.StartClient
	if cfg.member {
		start = n.cluster.StartMember
	}
	if err := protect(start); err != nil {
		return nil, fmt.Errorf("remote: join cluster %q: %w", ccfg.Name, err)
	}
	n.remote = n.cluster.Remote
	return n, nil
}

func protect(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("%v", p)
		}
	}()
	f()
	return nil
}

// splitListen parses host:port; the host must be an IP address (protoactor
// advertises it as the node's address).
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("remote: listen address %q: %w", addr, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", 0, fmt.Errorf("remote: listen address %q: host must be an IP address", addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("remote: listen address %q: bad port", addr)
	}
	return host, port, nil
}

// Address returns the address other nodes reach this one at.
func (n *node) address() string { return n.system.Address() }

// close leaves the cluster, if any, and stops the remote layer. It does
// not shut the actor system down (protoactor's Cluster.Shutdown does,
// under the chain's feet, and sleeps 2 s).
func (n *node) close() error {
	n.once.Do(func() {
		if c := n.cluster; c != nil {
			if n.member {
				// Only a member gossips; on a client SetState dereferences
				// the gossip actor's nil PID.
				c.Gossip.SetState(cluster.GracefullyLeftKey, &emptypb.Empty{})
			}
			if n.provider != nil {
				_ = n.provider.Shutdown(true)
			}
			if n.health != nil {
				_ = n.health.Close()
			}
			if c.IdentityLookup != nil {
				c.IdentityLookup.Shutdown()
			}
			if c.Gossip != nil {
				c.Gossip.Shutdown()
			}
		}
		// Not Remote.Shutdown(true): its endpoint manager's stop races
		// with the connection-lost events it causes (a data race inside
		// protoactor), and its graceful gRPC stop waits up to 10 s for
		// peers. The server stops at once (peers see their streams end,
		// as when a node is lost), then the endpoint actors stop, which
		// closes this node's client connections.
		n.remote.Shutdown(false)
		addr := n.system.Address()
		for _, name := range []string{"EndpointSupervisor", "activator"} {
			f := n.system.Root.StopFuture(actor.NewPID(addr, name))
			done := make(chan struct{})
			go func() { _ = f.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(n.timeout):
				n.log.Warn("remote: endpoint actor did not stop in time", "actor", name)
			}
		}
	})
	return nil
}
