// Package perf holds microstack's side-by-side benchmarks (issue 11). Each
// comparison runs in one command, alternates its sides several times, and
// prints "name: ratio" lines against a baseline measured in the same run:
//
//	go test ./tests/perf -run '^$' -bench Echo -benchtime 1x      # TCP echo: actors (alone and under a chain) on evloop and osnet, evloop alone, nbio, gnet, Node.js, vs raw Go
//	go test ./tests/perf -run '^$' -bench Idle -benchtime 1x      # RSS per idle connection
//	go test ./tests/perf -run '^$' -bench Chain -benchtime 1x     # chain start, Restart of 1,000 actors, round trip
//	go test ./tests/perf -run '^$' -bench HTTP -benchtime 1x      # HTTP hello from wrk: actor routes vs net/http
//
// Every echo server runs in a child process of its own (the test binary run
// again) and every load generator (package loadgen) in another, so that a
// server's CPU time, read from its /proc/self/stat (utime+stime) around each
// measurement, and its RSS are its own. The Node.js side is
// testdata/echo.js, run with the machine's node; without node it is
// reported as skipped. Flags (after -args): -perf.rounds, -perf.duration,
// -perf.conns, -perf.window, -perf.sizes, -perf.w1, -perf.idle, -perf.sides,
// -perf.cpuprofile, -perf.allocprofile, -perf.heapprofile; for HTTP
// -perf.wrk and -perf.httpsides, whose sides beyond the default ones take
// an engine apart: nethttp-netconn (the baseline's handler on net/http over
// netconn and osnet, what the net/http engine runs on), and
// actor-nethttp-noframing (that engine without its framing check).
//
// To compare two builds in one run (what a change does, against noise
// that moves both alike), build this package's test binary at the other
// commit and name it with -perf.other; a side other:NAME is side NAME run
// from that binary:
//
//	git worktree add /tmp/base BASE && (cd /tmp/base && go test -c -o /tmp/base.test ./tests/perf)
//	go test ./tests/perf -run '^$' -bench HTTP -benchtime 1x -args -perf.other /tmp/base.test -perf.httpsides nethttp,other:actor-evloop,actor-evloop
//
// The plain `go test ./tests/perf` runs only a small smoke run of the same
// code, in seconds.
package perf
