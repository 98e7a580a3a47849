package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/webrtc"
)

// runHelper runs inside the browser's network namespace: it serves the test
// page and the signaling endpoint on 127.0.0.1, starts Chromium on the
// page, and prints the page's report as a "RESULT {json}" line.
func runHelper() int {
	chromium := os.Getenv(helperEnv)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	defer system.Shutdown()
	sig := webrtc.NewSignaling(system, webrtc.SignalingOptions{
		Peer:   webrtc.Options{LoopbackOnly: true, Logger: logger},
		Logger: logger,
	})
	defer sig.Close()

	results := make(chan []byte, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.Handle("/signal", sig)
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case results <- b:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: listen:", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	profile, err := os.MkdirTemp("", "microstack-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: profile dir:", err)
		return 1
	}
	defer os.RemoveAll(profile)
	url := "http://" + ln.Addr().String() + "/"
	cmd := exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--allow-loopback-in-peer-connection",
		// Chromium hides host addresses behind mDNS .local names, which
		// never resolve here.
		"--disable-features=WebRtcHideLocalIpsWithMdns",
		"--user-data-dir="+profile, url)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "helper: start chromium:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// Chromium's whole process group, by its leader's PID.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()

	select {
	case b := <-results:
		var r json.RawMessage = b
		fmt.Printf("RESULT %s\n", r)
		return 0
	case err := <-exited:
		exited <- err
		fmt.Fprintln(os.Stderr, "helper: chromium exited before reporting:", err)
		return 1
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "helper: no report from the page within 60s")
		return 1
	}
}
