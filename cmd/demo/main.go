// Command demo is the microstack demo agent: a chain whose services show the
// runtime at work. It starts the chain, logs the actor tree, stops gracefully
// on SIGINT or SIGTERM (within the shutdown timeouts of its services) and
// restarts the chain on SIGHUP.
//
//	go run ./cmd/demo [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/transports/evloop"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags say.
type config struct {
	data          string
	console       netip.AddrPort
	stun          netip.AddrPort
	echoTCP       netip.AddrPort
	echoUDP       netip.AddrPort
	discovery     []string
	discKey       string
	heartbeat     time.Duration
	logLevel      slog.Level
	allowExec     bool
	transport     string
	remote        string
	clusterHealth string
	clusterSeeds  []string
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "microstack")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "microstack")
	}
	return filepath.Join(os.TempDir(), "microstack")
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.data, "data", defaultDataDir(), "`DIR` where the agent keeps its state (store, console token, TLS identity)")
	console := fs.String("console", "127.0.0.1:8470", "`IP:PORT` of the web console; it needs the token printed at start-up")
	stun := fs.String("stun", "127.0.0.1:3478", "`IP:PORT` of the STUN binding server; empty turns it off")
	echoTCP := fs.String("echo-tcp", "127.0.0.1:8471", "`IP:PORT` of the TCP echo service; empty turns it off")
	echoUDP := fs.String("echo-udp", "127.0.0.1:8472", "`IP:PORT` of the UDP echo service; empty turns it off")
	discovery := fs.String("discovery", "", "`IFACE[,IFACE]`: announce this agent and find peers by multicast on these interfaces (off by default: nothing leaves the machine unless asked)")
	fs.StringVar(&c.discKey, "discovery-key", "", "shared `SECRET` that authenticates discovery beacons; agents without it are ignored")
	fs.DurationVar(&c.heartbeat, "heartbeat", 10*time.Second, "how often the agent logs a heartbeat with its uptime")
	fs.StringVar(&c.remote, "remote", "", "`IP:PORT` to serve this agent's actors to trusted processes (protoactor remote, mutual TLS from the secret in $"+remote.SecretEnv+"); empty: off")
	fs.StringVar(&c.clusterHealth, "cluster-listen", "", "`IP:PORT` of this agent's cluster endpoint (automanaged provider); with --remote, joins the cluster")
	seeds := fs.String("cluster-seeds", "", "`IP:PORT[,...]` cluster endpoints of every member, this one included")
	defaultTransport := "os"
	if evloop.Supported {
		defaultTransport = "evloop"
	}
	fs.StringVar(&c.transport, "transport", defaultTransport, "`KIND` of network backend for plain TCP: evloop (epoll event loops, Linux) or os (a goroutine pair per socket); TLS, UDP and interfaces always use os")
	fs.BoolVar(&c.allowExec, "allow-exec", false, "let the console run commands as this user (off by default)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: demo [flags]\n       demo controller [flags]   (list the agents of a cluster and their health; -h for its flags)\n\nThe microstack demo agent. SIGINT/SIGTERM stop it gracefully; SIGHUP restarts its chain.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("--log-level: %w", err)
	}
	var err error
	if c.console, err = netip.ParseAddrPort(*console); err != nil {
		return c, fmt.Errorf("--console: %w", err)
	}
	if *stun != "" {
		if c.stun, err = netip.ParseAddrPort(*stun); err != nil {
			return c, fmt.Errorf("--stun: %w", err)
		}
	}
	if *echoTCP != "" {
		if c.echoTCP, err = netip.ParseAddrPort(*echoTCP); err != nil {
			return c, fmt.Errorf("--echo-tcp: %w", err)
		}
	}
	if *echoUDP != "" {
		if c.echoUDP, err = netip.ParseAddrPort(*echoUDP); err != nil {
			return c, fmt.Errorf("--echo-udp: %w", err)
		}
	}
	for _, seed := range strings.Split(*seeds, ",") {
		if seed = strings.TrimSpace(seed); seed != "" {
			c.clusterSeeds = append(c.clusterSeeds, seed)
		}
	}
	if c.transport != "os" && c.transport != "evloop" {
		return c, fmt.Errorf("--transport: %q is neither evloop nor os", c.transport)
	}
	if c.clusterHealth != "" && c.remote == "" {
		return c, errors.New("--cluster-listen needs --remote")
	}
	for _, name := range strings.Split(*discovery, ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.discovery = append(c.discovery, name)
		}
	}
	if c.heartbeat <= 0 {
		return c, errors.New("--heartbeat must be positive")
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "controller" {
		return remote.ControllerMain(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	a, err := newAgent(cfg, stderr, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "demo: agent did not start:", err)
		return 1
	}
	log := a.log
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP: restarting the chain")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := a.restart(ctx)
				cancel()
				if err != nil {
					log.Error("restart failed", "err", err)
				}
				continue
			}
			log.Info("stopping", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := a.stop(ctx)
			cancel()
			if err != nil {
				log.Error("stop", "err", err)
				return 1
			}
			return 0
		case <-a.rt.Done():
			if err := a.rt.Wait(); err != nil {
				log.Error("chain ended", "err", err)
				return 1
			}
			return 0
		}
	}
}
