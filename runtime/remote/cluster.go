package remote

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	premote "github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"

	"github.com/microstack-go/microstack/messages/remotemsg"
)

// Defaults of ClusterOptions.
const (
	// DefaultClusterName is the cluster's name.
	DefaultClusterName = "microstack"
	// DefaultHealthListen is the automanaged provider's HTTP endpoint of a
	// member, on loopback.
	DefaultHealthListen = "127.0.0.1:6330"
	// DefaultRefresh is how often the automanaged provider polls every
	// member's endpoint.
	DefaultRefresh = time.Second
)

// AgentKindPrefix starts the cluster kind an agent registers under:
// "microstack.agent/" followed by its id. Member ids are protoactor's (new
// at every start of a process: protoactor blocks a member id that left
// for good, so a restarted agent must come back under a new one); the kind
// is what stays the same.
const AgentKindPrefix = "microstack.agent/"

// ClusterOptions joins agents into one cluster with protoactor's cluster
// layer. By default the automanaged provider: each member serves a small
// HTTP endpoint (HealthListen) and polls every endpoint in Seeds; it needs
// no outside service. Provider replaces it (consul, etcd, k8s).
type ClusterOptions struct {
	// Name is the cluster's name; members of other clusters are ignored.
	// Default DefaultClusterName.
	Name string
	// HealthListen is this member's automanaged endpoint, host:port.
	// Default DefaultHealthListen. Unused by controllers.
	HealthListen string
	// Seeds lists the automanaged endpoints (host:port) of every member,
	// this one included; a member not listed is not seen.
	Seeds []string
	// Refresh is how often the members' endpoints are polled, which bounds
	// how soon a lost or returning agent is seen. Default DefaultRefresh.
	Refresh time.Duration
	// Provider, when set, is used instead of the automanaged provider
	// (HealthListen, Seeds and Refresh are then ignored).
	Provider cluster.ClusterProvider
}

// providerState keeps what this package made for the automanaged provider,
// to close it with the node.
type providerState struct {
	provider *automanaged.AutoManagedProvider
	listener net.Listener
}

func (p *providerState) close() {
	if p != nil && p.listener != nil {
		_ = p.listener.Close()
	}
}

func (p *providerState) attach(n *node) {
	if p == nil {
		return
	}
	if p.provider != nil {
		n.provider = p.provider
	}
	if p.listener != nil {
		n.health = p.listener
	}
}

// config returns the cluster configuration for a member registered as
// agentID (member true) or a controller.
func (o ClusterOptions) config(system *actor.ActorSystem, agentID string, member bool, st *providerState) func(*premote.Config) (*cluster.Config, error) {
	return func(rcfg *premote.Config) (*cluster.Config, error) {
		name := o.Name
		if name == "" {
			name = DefaultClusterName
		}
		var kinds []*cluster.Kind
		if member {
			kinds = append(kinds, cluster.NewKind(AgentKindPrefix+agentID, forwarderProps()))
		}
		provider := o.Provider
		if provider == nil {
			refresh := o.Refresh
			if refresh <= 0 {
				refresh = DefaultRefresh
			}
			// protoactor's automanaged provider binds 0.0.0.0 itself; an
			// echo server with its listener already set serves on that
			// listener instead, on loopback unless asked otherwise.
			e := echo.New()
			e.HideBanner, e.HidePort = true, true
			port := 0
			if member {
				listen := o.HealthListen
				if listen == "" {
					listen = DefaultHealthListen
				}
				ln, err := net.Listen("tcp", listen)
				if err != nil {
					return nil, fmt.Errorf("remote: cluster endpoint %s: %w", listen, err)
				}
				st.listener = ln
				e.Listener = ln
				port = ln.Addr().(*net.TCPAddr).Port
				e.GET("/_health", func(c echo.Context) error {
					host, rport, err := system.GetHostPort()
					if err != nil {
						return c.NoContent(http.StatusServiceUnavailable)
					}
					ks := []string{AgentKindPrefix + agentID}
					return c.JSON(http.StatusOK, automanaged.NewNode(name, system.ID, host, rport, port, ks))
				})
			}
			p := automanaged.NewWithTesting(refresh, port, e, o.Seeds...)
			st.provider = p
			provider = p
		}
		return cluster.Configure(name, provider, disthash.New(), rcfg, cluster.WithKinds(kinds...)), nil
	}
}

// AgentHealth is what a controller knows of one agent.
type AgentHealth struct {
	// ID is the agent's id.
	ID string
	// Address is the agent's remote address (host:port).
	Address string
	// Status is "up" (in the cluster and answering), "unreachable" (in the
	// cluster, not answering) or "lost" (gone from the cluster).
	Status string
	// Since is when Status last changed between lost and found.
	Since time.Time
	// Health is the agent's answer; nil unless Status is "up".
	Health *remotemsg.Health
	// Latency is how long the health request took.
	Latency time.Duration
	// Err says why an agent is unreachable.
	Err error
}

// Status values of AgentHealth.
const (
	StatusUp          = "up"
	StatusUnreachable = "unreachable"
	StatusLost        = "lost"
)

// ControllerOptions configures a controller.
type ControllerOptions struct {
	// Cluster names the cluster and how to find its members (Seeds).
	Cluster ClusterOptions
	// Security must match the agents'.
	Security Security
	// Listen is the controller's own gRPC address, which agents dial to
	// answer. Default DefaultListen.
	Listen string
	// Logger gets protoactor's records; default slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds Close. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Controller is a process that sees the cluster's agents and reaches any
// of them by id. It is a cluster client: it registers no kind of its own.
type Controller struct {
	system *actor.ActorSystem
	node   *node

	mu     sync.Mutex
	agents map[string]*agentState
	seen   chan struct{} // closed and replaced on every topology change
	sub    func()
}

type agentState struct {
	address string
	member  string
	lost    bool
	since   time.Time
}

// NewController joins the cluster as a client. Agents appear as the
// provider reports them (within ClusterOptions.Refresh); use WaitFor or
// List.
func NewController(opts ControllerOptions) (*Controller, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	plog := opts.Logger
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return plog }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	c := &Controller{system: system, agents: map[string]*agentState{}, seen: make(chan struct{})}
	sub := system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			c.topology(t)
		}
	})
	c.sub = func() { system.EventStream.Unsubscribe(sub) }
	st := &providerState{}
	n, err := startNode(system, nodeConfig{
		listen:     opts.Listen,
		security:   opts.Security,
		log:        opts.Logger,
		timeout:    opts.ShutdownTimeout,
		clusterCfg: opts.Cluster.config(system, "", false, st),
	})
	if err != nil {
		c.sub()
		system.Shutdown()
		return nil, err
	}
	st.attach(n)
	c.node = n
	return c, nil
}

// topology records a change of the cluster's members. It runs on the
// provider's goroutine, inside protoactor's member list lock: it only
// copies.
func (c *Controller) topology(t *cluster.ClusterTopology) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	present := map[string]bool{}
	for _, m := range t.Members {
		for _, k := range m.Kinds {
			id, ok := strings.CutPrefix(k, AgentKindPrefix)
			if !ok {
				continue
			}
			present[id] = true
			a := c.agents[id]
			if a == nil {
				a = &agentState{since: now}
				c.agents[id] = a
			}
			if a.lost {
				a.lost, a.since = false, now
			}
			a.address, a.member = m.Address(), m.Id
		}
	}
	for id, a := range c.agents {
		if !present[id] && !a.lost {
			a.lost, a.since = true, now
		}
	}
	close(c.seen)
	c.seen = make(chan struct{})
}

// WaitFor waits until cond, called with the known agents' ids and whether
// each is present, is true, or ctx ends.
func (c *Controller) WaitFor(ctx context.Context, cond func(present map[string]bool) bool) error {
	for {
		c.mu.Lock()
		present := make(map[string]bool, len(c.agents))
		for id, a := range c.agents {
			present[id] = !a.lost
		}
		seen := c.seen
		c.mu.Unlock()
		if cond(present) {
			return nil
		}
		select {
		case <-seen:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// List returns every agent the controller has seen, sorted by id: those in
// the cluster asked for their health (in parallel, each bounded by ctx),
// and those that left, as lost.
func (c *Controller) List(ctx context.Context) ([]AgentHealth, error) {
	c.mu.Lock()
	out := make([]AgentHealth, 0, len(c.agents))
	for id, a := range c.agents {
		out = append(out, AgentHealth{ID: id, Address: a.address, Since: a.since, Status: StatusLost})
		if !a.lost {
			out[len(out)-1].Status = StatusUnreachable
		}
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	var wg sync.WaitGroup
	for i := range out {
		if out[i].Status == StatusLost {
			continue
		}
		wg.Add(1)
		go func(h *AgentHealth) {
			defer wg.Done()
			start := time.Now()
			res, err := c.client(h.Address).Health(ctx)
			h.Latency = time.Since(start)
			if err != nil {
				h.Err = err
				return
			}
			h.Status, h.Health = StatusUp, res
		}(&out[i])
	}
	wg.Wait()
	return out, ctx.Err()
}

// Agent returns a client for the agent registered under id, or an error
// wrapping remotemsg.ErrUnreachable when the cluster has no such agent.
// The client shares the controller's connection: closing it is a no-op.
func (c *Controller) Agent(id string) (*Client, error) {
	c.mu.Lock()
	a := c.agents[id]
	c.mu.Unlock()
	if a == nil || a.lost {
		return nil, fmt.Errorf("%w: agent %q is not in the cluster", remotemsg.ErrUnreachable, id)
	}
	return c.client(a.address), nil
}

func (c *Controller) client(addr string) *Client {
	return &Client{system: c.system, gateway: actor.NewPID(addr, GatewayName)}
}

// Close leaves the cluster and stops the controller's remote layer and
// actor system.
func (c *Controller) Close() error {
	err := c.node.close()
	c.sub()
	c.system.Shutdown()
	return err
}
