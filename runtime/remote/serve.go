package remote

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/supervisor"
)

// Defaults of ServeOptions and DialOptions.
const (
	// DefaultListen binds loopback at a free port: an agent is reachable
	// from other machines only when asked.
	DefaultListen = "127.0.0.1:0"
	// DefaultGatewayName is the gateway's name under the chain's root.
	DefaultGatewayName = "remote"
	// DefaultMaxTimeout caps how long the gateway waits for an actor's
	// answer to a remote request.
	DefaultMaxTimeout = 30 * time.Second
)

// ServeOptions turns remoting on for a chain. Security must be set (a
// Secret, certificates, or Insecure explicitly); the rest has defaults.
type ServeOptions struct {
	// Listen is the gRPC address, host:port with an IP host. Default
	// DefaultListen (loopback, free port); Server.Addr says which port.
	Listen string
	// Advertise, when set, is the host:port other nodes reach this one at
	// (behind NAT or a port mapping).
	Advertise string
	// AgentID names the agent: in answers, and in the cluster, where it
	// registers under it. Default: the actor system's id.
	AgentID string
	// Security says which processes may connect. Required.
	Security Security
	// Authorize, when set, is asked about every message a remote caller
	// sends, with the target actor's path; an error refuses the message
	// with remotemsg.ErrForbidden. Nil allows every remote-safe message
	// to every actor of the chain's tree (never protoactor's own actors).
	Authorize func(path string, msg any) error
	// MaxTimeout caps the wait for an actor's answer. Default
	// DefaultMaxTimeout.
	MaxTimeout time.Duration
	// Name is the gateway's name under the chain's root. Default
	// DefaultGatewayName.
	Name string
	// Cluster, when set, also joins the agent to a cluster of agents
	// under AgentID.
	Cluster *ClusterOptions
	// ShutdownTimeout bounds Close. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger gets the remote layer's own records (refused handshakes and
	// messages). Default slog.Default(); protoactor's records go to the
	// actor system's logger.
	Logger *slog.Logger
}

// Server is a chain reachable from other processes. Close it before
// stopping the chain, or after: either order works.
type Server struct {
	rt   *runtime.Runtime
	node *node
	name string
	opts *ServeOptions
}

// Serve starts protoactor's remote layer (gRPC) on the chain's actor system
// and adds the gateway (kind GatewayKind) to the chain's root, through which
// other processes read the tree, the logs and the store and send commands
// to its actors. It costs one listening socket and a few goroutines, plus
// those of each connected peer. rt must have started; a chain can be
// served once per actor system.
func Serve(rt *runtime.Runtime, opts ServeOptions) (*Server, error) {
	if rt.Root() == nil {
		return nil, runtime.ErrNotStarted
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.MaxTimeout <= 0 {
		opts.MaxTimeout = DefaultMaxTimeout
	}
	if opts.Name == "" {
		opts.Name = DefaultGatewayName
	}
	if opts.AgentID == "" {
		opts.AgentID = rt.System().ID
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg := nodeConfig{
		listen:    opts.Listen,
		advertise: opts.Advertise,
		security:  opts.Security,
		log:       opts.Logger,
		timeout:   opts.ShutdownTimeout,
	}
	var prov *providerState
	if opts.Cluster != nil {
		prov = &providerState{}
		cfg.member = true
		cfg.clusterCfg = opts.Cluster.config(rt.System(), opts.AgentID, true, prov)
	}
	n, err := startNode(rt.System(), cfg)
	if err != nil {
		prov.close()
		return nil, err
	}
	prov.attach(n)
	s := &Server{rt: rt, node: n, name: opts.Name, opts: &opts}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = rt.Spawn(ctx, supervisor.ChildSpec{
		Name:  opts.Name,
		Kind:  GatewayKind,
		Props: func() *actor.Props { return gatewayProps(rt, s.opts, &n.refused, opts.Logger) },
	})
	if err != nil {
		_ = n.close()
		return nil, fmt.Errorf("remote: start gateway: %w", err)
	}
	opts.Logger.Info("remote: serving", "addr", n.address(), "agent", opts.AgentID, "cluster", opts.Cluster != nil)
	return s, nil
}

// Addr returns the address other processes dial (host:port).
func (s *Server) Addr() string { return s.node.address() }

// AgentID returns the agent's id.
func (s *Server) AgentID() string { return s.opts.AgentID }

// Refused counts the connections refused because the peer was not
// trusted (no secret, wrong certificate, plain text).
func (s *Server) Refused() int64 { return s.node.refused.Load() }

// Close removes the gateway from the chain (when the chain still runs),
// leaves the cluster and stops the remote layer, within the shutdown
// timeout. It does not stop the chain or its actor system.
func (s *Server) Close() error {
	if root := s.rt.Root(); root != nil {
		f := s.rt.System().Root.RequestFuture(root, &supervisor.StopChild{Name: s.name}, 5*time.Second)
		_, _ = f.Result()
	}
	return s.node.close()
}
