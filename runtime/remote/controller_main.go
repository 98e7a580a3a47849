package remote

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// SecretEnv is the environment variable ControllerMain (and the demo)
// read the shared secret from when no file is given.
const SecretEnv = "MICROSTACK_REMOTE_SECRET"

// ControllerMain is the demo's "controller" command: it joins the cluster
// as a client, waits for the members to be polled, and prints every agent
// it sees with its health. It returns the exit code: 0 when every agent
// seen is up, 1 when one is not or on failure, 2 on bad flags.
//
// Flags: -seeds (the members' automanaged endpoints, comma-separated;
// default DefaultHealthListen), -cluster (default DefaultClusterName),
// -secret-file (else $MICROSTACK_REMOTE_SECRET), -insecure, -listen
// (default DefaultListen), -wait (default 3 s), -timeout (default 5 s).
func ControllerMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.String("seeds", DefaultHealthListen, "automanaged endpoints of the cluster's members, host:port, comma-separated")
	name := fs.String("cluster", DefaultClusterName, "cluster name")
	secretFile := fs.String("secret-file", "", "file holding the shared secret (default $"+SecretEnv+")")
	insecureFlag := fs.Bool("insecure", false, "no TLS, no authentication (loopback tests only)")
	listen := fs.String("listen", DefaultListen, "the controller's own remote address, which agents dial to answer")
	wait := fs.Duration("wait", 3*time.Second, "how long to wait for the members to be polled")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the agents' health")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sec := Security{Insecure: *insecureFlag}
	if !*insecureFlag {
		secret := []byte(os.Getenv(SecretEnv))
		if *secretFile != "" {
			b, err := os.ReadFile(*secretFile)
			if err != nil {
				fmt.Fprintf(stderr, "controller: %v\n", err)
				return 2
			}
			secret = []byte(strings.TrimSpace(string(b)))
		}
		if len(secret) == 0 {
			fmt.Fprintf(stderr, "controller: no secret: give -secret-file or set $%s (or -insecure)\n", SecretEnv)
			return 2
		}
		sec.Secret = secret
	}
	var list []string
	for _, s := range strings.Split(*seeds, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
	ctl, err := NewController(ControllerOptions{
		Cluster:  ClusterOptions{Name: *name, Seeds: list, Refresh: 500 * time.Millisecond},
		Security: sec,
		Listen:   *listen,
		Logger:   quiet,
	})
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return 1
	}
	defer ctl.Close()
	// The provider polls every seed once per refresh; give it the time to
	// see all of them.
	wctx, cancel := context.WithTimeout(context.Background(), *wait)
	_ = ctl.WaitFor(wctx, func(p map[string]bool) bool { return len(p) >= len(list) })
	cancel()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	agents, err := ctl.List(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSTATUS\tADDRESS\tACTORS\tRESTARTS\tNOT RUNNING\tLATENCY\tERROR")
	code := 0
	for _, a := range agents {
		actors, restarts, notRunning := "-", "-", "-"
		if a.Health != nil {
			actors, restarts = fmt.Sprint(a.Health.Actors), fmt.Sprint(a.Health.Restarts)
			notRunning = fmt.Sprint(len(a.Health.NotRunning))
		}
		errText := ""
		if a.Err != nil {
			errText = a.Err.Error()
		}
		if a.Status != StatusUp {
			code = 1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", a.ID, a.Status, a.Address, actors, restarts, notRunning, a.Latency.Round(time.Microsecond), errText)
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "%d agent(s) in cluster %q\n", len(agents), *name)
	if len(agents) == 0 {
		return 1
	}
	return code
}
