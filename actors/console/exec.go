package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/process"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
	"github.com/microstack-go/microstack/supervisor"
)

var execSeq atomic.Int64

// execTimeout bounds a command run from the console.
const execTimeout = 5 * time.Minute

// exec runs a command through a process actor, a temporary child of the
// chain, and streams its output as server-sent events: "stdout" and
// "stderr" events carry text, "exit" the exit status. The browser's pace
// sets the child's: each event written returns one read credit to the
// process actor.
func (c *Console) exec(w http.ResponseWriter, r *http.Request) {
	if !c.opts.AllowExec {
		writeError(w, http.StatusForbidden, errors.New("the process runner is off: start the agent with --allow-exec"))
		return
	}
	var body struct {
		Path string   `json:"path"`
		Args []string `json:"args"`
	}
	if err := decodeJSON(w, r, 64<<10, &body); err != nil || body.Path == "" {
		badRequest(w, "body must be {\"path\": ..., \"args\": [...]}")
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	rt := c.opts.Runtime
	system := rt.System()
	const credits = 16
	events := make(chan any, credits+4)
	bridge := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *procmsg.Started, *procmsg.Stdout, *procmsg.Stderr, *procmsg.Exited, *messages.CommandFailed:
			select {
			case events <- m:
			default: // cannot happen: credits bound the output events
			}
		}
	}))
	defer system.Root.Stop(bridge)

	name := fmt.Sprintf("exec-%d", execSeq.Add(1))
	spec := process.ChildSpec(name, process.Options{
		Handler: bridge,
		Start:   &procmsg.Spawn{Path: body.Path, Args: body.Args},
		Timeout: execTimeout,
		Credits: credits,
		Logger:  c.log,
	})
	spec.Restart = supervisor.Temporary
	ctx, cancel := c.ctx(r)
	pid, err := rt.Spawn(ctx, spec)
	cancel()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	c.log.Warn("running a command from the console", "path", body.Path, "args", body.Args, "actor", pid.Id, "remote", r.RemoteAddr)
	defer system.Root.Send(rt.Root(), &supervisor.StopChild{Name: name})

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	event := func(kind string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, b); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	event("actor", pid.Id)
	for {
		select {
		case e := <-events:
			switch m := e.(type) {
			case *procmsg.Started:
				event("started", m)
			case *procmsg.Stdout:
				if !event("stdout", string(m.Data)) {
					return
				}
				system.Root.Send(pid, &messages.ResumeReading{Credits: 1})
			case *procmsg.Stderr:
				if !event("stderr", string(m.Data)) {
					return
				}
				system.Root.Send(pid, &messages.ResumeReading{Credits: 1})
			case *procmsg.Exited:
				event("exit", map[string]any{"code": m.Code, "signal": m.Signal.String(), "duration": m.Duration.String(), "timedOut": m.TimedOut})
				return
			case *messages.CommandFailed:
				event("error", m.Err.Error())
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}
