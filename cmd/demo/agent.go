package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/console"
	"github.com/microstack-go/microstack/actors/discovery"
	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/actors/netif"
	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/actors/stun"
	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/messages/stunmsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/osnet"
)

// agent is the demo's chain and what it prints.
type agent struct {
	cfg config
	log *slog.Logger
	hub *logging.Hub
	out io.Writer
	rt  *runtime.Runtime
	net transports.Network
	id  string

	idState   string
	token     string
	console   *console.Console
	signaling *webrtc.Signaling
	// Peer links, on when discovery runs with a key.
	linkToken   string
	peerSignals *webrtc.Signaling
	consoleAddr netip.AddrPort // the console's address, with the port it got
	remote      *remote.Server
}

// Keys the agent keeps in its store.
const (
	keyAgentID = "agent/id"
	keyToken   = "console/token"
)

func newAgent(cfg config, stderr io.Writer, out io.Writer) (*agent, error) {
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	// Every record goes to the hub (for the console's live log) and on to
	// stderr.
	hub := logging.NewHub(logging.Options{
		Level: cfg.logLevel,
		Next:  slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}),
	})
	a := &agent{cfg: cfg, log: slog.New(hub.Handler()), hub: hub, out: out}
	if cfg.transport == "evloop" {
		a.net = evloop.New(evloop.Options{})
	} else {
		a.net = osnet.New(osnet.Options{})
	}
	// The log and the store start first; the agent's identity and console
	// token come from the store; then the services start, in order.
	a.rt = runtime.New(runtime.Options{
		Name:     "agent",
		Logger:   a.log,
		Children: a.foundation(),
	})
	start := time.Now()
	if err := a.rt.Start(); err != nil {
		return nil, err
	}
	fail := func(err error) (*agent, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.stop(ctx)
		return nil, err
	}
	if err := a.identity(); err != nil {
		return fail(err)
	}
	if err := a.startServices(); err != nil {
		return fail(err)
	}
	if err := a.serveRemote(); err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "agent: started in %v, data in %s\n", time.Since(start).Round(10*time.Microsecond), cfg.data)
	fmt.Fprintf(out, "agent: id %s (%s)\n", a.id, a.idState)
	a.printServing()
	a.printTree()
	return a, nil
}

// foundation is what the other services stand on: the log first, so that
// every later service's logs reach it, and the store.
func (a *agent) foundation() []supervisor.ChildSpec {
	return []supervisor.ChildSpec{
		logging.ChildSpec("log", a.hub),
		store.ChildSpec("store", store.Options{Dir: filepath.Join(a.cfg.data, "store"), Create: true, Logger: a.log.With("module", "store")}),
	}
}

// consoleSpec is the console's HTTP server: the console page and API, and
// the peer-link signaling route when links are on.
func (a *agent) consoleSpec() supervisor.ChildSpec {
	routes := []httpactor.Route{{Pattern: "/", Handler: a.console}}
	if a.peerSignals != nil {
		routes = append(routes, httpactor.Route{Pattern: "POST /peer/offer", Handler: peerOfferHandler(a.linkToken, a.peerSignals)})
	}
	return httpactor.ChildSpec("console", httpactor.Options{
		Network:   a.net,
		Endpoints: []httpactor.Endpoint{{Addr: a.cfg.console}},
		Routes:    routes,
		Logger:    a.log.With("module", "console"),
	})
}

// services are the agent's services started after the console, in order;
// each is a child of the root under a readable name.
func (a *agent) services() []supervisor.ChildSpec {
	specs := []supervisor.ChildSpec{
		netif.ChildSpec("netif", netif.Options{Network: a.net, Logger: a.log.With("module", "netif")}),
	}
	if a.cfg.echoTCP.IsValid() {
		specs = append(specs, tcp.EchoSpec("echo-tcp", a.cfg.echoTCP, tcp.WithNetwork(a.net)))
	}
	if a.cfg.echoUDP.IsValid() {
		specs = append(specs, udp.EchoSpec("echo-udp", a.cfg.echoUDP, a.net))
	}
	if len(a.cfg.discovery) > 0 {
		// Discovery follows the agent's own interface monitor rather than
		// running a second one.
		opts := discovery.Options{Network: a.net, ID: a.id, Services: a.announced(), Monitor: a.pid("netif"), Logger: a.log.With("module", "discovery")}
		if a.cfg.discKey != "" {
			key := sha256.Sum256([]byte(a.cfg.discKey))
			opts.Key = key[:]
		}
		specs = append(specs, discovery.ChildSpec("discovery", a.cfg.discovery, opts))
		if a.linkToken != "" {
			specs = append(specs, supervisor.ChildSpec{
				Name:  "peerlinks",
				Kind:  "demo.peerlinks",
				Props: func() *actor.Props { return peerLinksProps(a.pid("discovery"), a.id, a.linkToken, time.Second, a.log) },
			})
		}
	}
	if a.cfg.stun.IsValid() {
		specs = append(specs, stun.ServerChildSpec("stun", stun.ServerOptions{Local: a.cfg.stun, Software: "microstack demo", Logger: a.log.With("module", "stun")}))
	}
	specs = append(specs,
		supervisor.ChildSpec{
			Name:  "heartbeat",
			Kind:  "demo.heartbeat",
			Props: func() *actor.Props { return heartbeatProps(a.cfg.heartbeat, a.log) },
		},
	)
	return specs
}

// startServices builds the console and starts every service.
func (a *agent) startServices() error {
	a.signaling = webrtc.NewSignaling(a.rt.System(), webrtc.SignalingOptions{
		// On a loopback console, the agent's peer offers loopback
		// candidates so that a browser on the same machine connects.
		Peer:   webrtc.Options{LoopbackOnly: a.cfg.console.Addr().IsLoopback()},
		Logger: a.log.With("module", "webrtc"),
	})
	var peers func() []console.Peer
	if len(a.cfg.discovery) > 0 {
		peers = a.peers
		if a.cfg.discKey != "" {
			a.linkToken = linkTokenFor(a.cfg.discKey)
			a.peerSignals = webrtc.NewSignaling(a.rt.System(), webrtc.SignalingOptions{
				Peer:   webrtc.Options{LoopbackOnly: a.cfg.console.Addr().IsLoopback()},
				Logger: a.log.With("module", "peerlink"),
			})
		}
	}
	c, err := console.New(console.Options{
		Peers:     peers,
		Runtime:   a.rt,
		Hub:       a.hub,
		LogActor:  a.pid("log"),
		Token:     a.token,
		Store:     a.pid("store"),
		WebRTC:    a.signaling,
		AllowExec: a.cfg.allowExec,
		Logger:    a.log,
	})
	if err != nil {
		return err
	}
	a.console = c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The console first: the others announce the address it got.
	if _, err := a.rt.Spawn(ctx, a.consoleSpec()); err != nil {
		return fmt.Errorf("start console: %w", err)
	}
	a.consoleAddr = a.cfg.console
	if res, err := a.ask("console", &httpmsg.GetBound{}); err == nil {
		if b := res.(*httpmsg.Bound); len(b.Endpoints) > 0 {
			a.consoleAddr = b.Endpoints[0].Addr
		}
	}
	for _, spec := range a.services() {
		if _, err := a.rt.Spawn(ctx, spec); err != nil {
			return fmt.Errorf("start %s: %w", spec.Name, err)
		}
	}
	return nil
}

// announced are the service addresses discovery beacons carry.
func (a *agent) announced() []netip.AddrPort {
	var out []netip.AddrPort
	for _, ap := range []netip.AddrPort{a.consoleAddr, a.cfg.echoTCP, a.cfg.echoUDP, a.cfg.stun} {
		if ap.IsValid() && ap.Port() != 0 {
			out = append(out, ap)
		}
	}
	return out
}

// peers lists the peers discovery has seen, for the console.
func (a *agent) peers() []console.Peer {
	res, err := a.ask("discovery", &discoverymsg.GetPeers{})
	if err != nil {
		return nil
	}
	status := links{}
	if a.linkToken != "" {
		if res, err := a.ask("peerlinks", getLinks{}); err == nil {
			status, _ = res.(links)
		}
	}
	var out []console.Peer
	for _, p := range res.(*discoverymsg.Peers).Peers {
		cp := console.Peer{ID: p.ID, Name: p.Name, Addr: p.Addr.String(), LastSeen: p.LastSeen}
		if st, ok := status[p.ID]; ok {
			cp.Heartbeat = st.describe()
		}
		for _, s := range p.Services {
			cp.Services = append(cp.Services, s.String())
		}
		out = append(out, cp)
	}
	return out
}

// serveRemote opens the chain to trusted processes when --remote is set.
func (a *agent) serveRemote() error {
	if a.cfg.remote == "" {
		return nil
	}
	secret := os.Getenv(remote.SecretEnv)
	if secret == "" {
		return fmt.Errorf("--remote needs a shared secret in $%s", remote.SecretEnv)
	}
	opts := remote.ServeOptions{
		Listen:   a.cfg.remote,
		AgentID:  a.id,
		Security: remote.Security{Secret: []byte(secret)},
		Logger:   a.log.With("module", "remote"),
	}
	if a.cfg.clusterHealth != "" {
		opts.Cluster = &remote.ClusterOptions{HealthListen: a.cfg.clusterHealth, Seeds: a.cfg.clusterSeeds}
	}
	srv, err := remote.Serve(a.rt, opts)
	if err != nil {
		return fmt.Errorf("--remote: %w", err)
	}
	a.remote = srv
	return nil
}

// printServing prints what the agent serves, with the ports it got.
func (a *agent) printServing() {
	fmt.Fprintf(a.out, "console: http://%s/?token=%s\n", a.consoleAddr, a.token)
	if a.cfg.stun.IsValid() {
		stunAddr := a.cfg.stun
		if res, err := a.ask("stun", &stunmsg.GetLocalAddress{}); err == nil {
			stunAddr = res.(*stunmsg.LocalAddress).Addr
		}
		fmt.Fprintf(a.out, "stun: %s (udp)\n", stunAddr)
	}
	if a.cfg.echoTCP.IsValid() {
		addr := a.cfg.echoTCP
		if res, err := a.ask("echo-tcp", &tcpmsg.GetStats{}); err == nil {
			if st, ok := res.(*tcpmsg.ListenerStats); ok && st.Local.IsValid() {
				addr = st.Local
			}
		}
		fmt.Fprintf(a.out, "echo-tcp: %s\n", addr)
	}
	if a.cfg.echoUDP.IsValid() {
		fmt.Fprintf(a.out, "echo-udp: %s\n", a.cfg.echoUDP)
	}
	if len(a.cfg.discovery) > 0 {
		fmt.Fprintf(a.out, "discovery: on %s (authenticated: %v)\n", strings.Join(a.cfg.discovery, ", "), a.cfg.discKey != "")
	}
	if a.cfg.allowExec {
		fmt.Fprintln(a.out, "exec: the console may run commands (--allow-exec)")
	}
	if a.remote != nil {
		fmt.Fprintf(a.out, "remote: %s (agent %s, cluster: %v)\n", a.remote.Addr(), a.remote.AgentID(), a.cfg.clusterHealth != "")
	}
}

func (a *agent) pid(name string) *actor.PID {
	return actor.NewPID(a.rt.System().Address(), "agent/"+name)
}

// ask sends a command to one of the agent's services and waits for the
// answer; a CommandFailed comes back as its error.
func (a *agent) ask(service string, cmd any) (any, error) {
	res, err := a.rt.System().Root.RequestFuture(a.pid(service), cmd, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", service, err)
	}
	if f, ok := res.(*messages.CommandFailed); ok {
		return nil, f
	}
	return res, nil
}

// identity reads the agent's id and console token from the store, making
// them on first start.
func (a *agent) identity() error {
	id, fresh, err := a.keep(keyAgentID, func() string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
	if err != nil {
		return err
	}
	a.id, a.idState = id, "kept in the store"
	if fresh {
		a.idState = "new"
	}
	a.token, _, err = a.keep(keyToken, console.NewToken)
	return err
}

// keep returns the value of key in the store, storing make() first when the
// key is not there.
func (a *agent) keep(key string, make func() string) (string, bool, error) {
	res, err := a.ask("store", &storemsg.Get{Key: []byte(key)})
	switch {
	case err == nil:
		return string(res.(*storemsg.Got).Value), false, nil
	case !errors.Is(err, storemsg.ErrNotFound):
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	v := make()
	if _, err := a.ask("store", &storemsg.Put{Key: []byte(key), Value: []byte(v)}); err != nil {
		return "", false, fmt.Errorf("save %s: %w", key, err)
	}
	return v, true, nil
}

func (a *agent) restart(ctx context.Context) error {
	rep, err := a.rt.Restart(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "agent: restarted (%d did not stop in time)\n", len(rep.NotStopped))
	a.printTree()
	return nil
}

func (a *agent) stop(ctx context.Context) error {
	if a.signaling != nil {
		a.signaling.Close()
	}
	if a.peerSignals != nil {
		a.peerSignals.Close()
	}
	if a.console != nil {
		a.console.Close()
	}
	if a.remote != nil {
		// Leave the cluster first, so that peers see the agent go.
		_ = a.remote.Close()
	}
	rep, err := a.rt.Stop(ctx)
	if len(rep.NotStopped) > 0 {
		fmt.Fprintf(a.out, "agent: did not stop in time: %s\n", strings.Join(rep.NotStopped, ", "))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(a.out, "agent: stopped")
	return nil
}

// printTree prints the actor tree, indented by depth.
func (a *agent) printTree() {
	fmt.Fprintln(a.out, "agent: actor tree")
	for _, in := range a.rt.Tree() {
		depth := strings.Count(in.Path, "/")
		name := in.Path[strings.LastIndex(in.Path, "/")+1:]
		fmt.Fprintf(a.out, "  %s%-*s %-16s %-9s restarts=%d\n", strings.Repeat("  ", depth), 20-2*depth, name, in.Kind, in.State, in.Restarts)
	}
}

// beat is the heartbeat actor's timer message.
type beat struct{}

// heartbeatProps is a small service that logs the agent's uptime every
// period, on the chain's timer, and publishes a beat counter.
func heartbeatProps(period time.Duration, log *slog.Logger) *actor.Props {
	var started time.Time
	var cancel runtime.Cancel
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			started = time.Now()
			cancel = runtime.SendEvery(ctx.ActorSystem(), ctx.Self(), period, beat{})
		case beat:
			inspect.Of(ctx).Add("beats", 1)
			log.Info("heartbeat", "actor", ctx.Self().Id, "uptime", time.Since(started).Round(time.Second))
		case *actor.Stopping:
			if cancel != nil {
				cancel()
			}
		}
	})
}
