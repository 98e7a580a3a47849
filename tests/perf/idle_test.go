package perf

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// idleCost measures what n idle connections cost the server side: its RSS
// (after a GC and returning free memory to the system) before and after a
// child process opens them, per connection, and goroutines per connection.
func idleCost(side string, n int) (perConn float64, goroutines float64, err error) {
	srvs, addr, stop, err := startServers([]string{side}, heapEnv(side)...)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	srv := srvs[side]
	rss := func() (int64, int, int, error) {
		srv.send("rss")
		line, err := srv.expect("rss", time.Minute)
		if err != nil {
			return 0, 0, 0, err
		}
		f := strings.Fields(line)
		r, _ := strconv.ParseInt(f[0], 10, 64)
		c, _ := strconv.Atoi(f[1])
		g, _ := strconv.Atoi(f[2])
		return r, c, g, nil
	}
	r0, _, g0, err := rss()
	if err != nil {
		return 0, 0, err
	}
	holder, err := startChild("PERF_ROLE=hold", "PERF_ADDR="+addr[side], "PERF_N="+strconv.Itoa(n))
	if err != nil {
		return 0, 0, err
	}
	defer holder.end()
	if _, err := holder.expect("ready", 5*time.Minute); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, c1, _, err := rss()
		if err != nil {
			return 0, 0, err
		}
		if c1 >= n {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s: server saw %d of %d connections", side, c1, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the last handlers settle
	r1, _, g1, err := rss()
	if err != nil {
		return 0, 0, err
	}
	return float64(r1-r0) / float64(n), float64(g1-g0) / float64(n), nil
}

func runIdle(sides []string, n int, w io.Writer) error {
	sides = available(sides, w)
	per := map[string]float64{}
	for _, side := range sides {
		b, g, err := idleCost(side, n)
		if err != nil {
			return err
		}
		per[side] = b
		fmt.Fprintf(w, "# idle %s: %.2f KiB RSS and %.2f goroutines per connection, %d connections\n", side, b/1024, g, n)
	}
	base := sides[0]
	for _, side := range sides[1:] {
		fmt.Fprintf(w, "idle-rss/conn %s/%s: %.2f\n", side, base, per[side]/per[base])
	}
	for _, side := range sides {
		fmt.Fprintf(w, "idle-rss/conn %s KiB: %.2f\n", side, per[side]/1024)
	}
	return nil
}

// BenchmarkIdle measures the RSS each idle connection costs the server,
// everything included (socket buffers in the process, actors, mailboxes,
// goroutines), with -perf.idle connections held by a child process. It
// runs once whatever b.N is; use -benchtime 1x.
func BenchmarkIdle(b *testing.B) {
	for range b.N {
		if err := runIdle(strings.Split(*sideList, ","), *idleN, os.Stdout); err != nil {
			b.Fatal(err)
		}
	}
}

// heapEnv asks a server for a heap profile at every "rss" when
// -perf.heapprofile is set.
func heapEnv(side string) []string {
	if *heapProfile == "" {
		return nil
	}
	return []string{"PERF_HEAPPROFILE=" + *heapProfile + side + ".pprof"}
}
