//go:build unix

package process_test

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/process"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
)

// Run cat under a process actor: write to its stdin, read its stdout, learn
// how it exited. The handler grants a read credit back for each event it
// has handled, which bounds what can pile up in its mailbox.
func Example() {
	system := actor.NewActorSystem()
	defer system.Shutdown()

	done := make(chan struct{})
	var proc *actor.PID
	var out []byte
	var acks []any
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *procmsg.Stdout:
			out = append(out, m.Data...)
			ctx.Send(proc, &messages.ResumeReading{Credits: 1})
		case *messages.WriteAck:
			acks = append(acks, m.Ack)
		case *procmsg.Exited:
			fmt.Printf("written: %v\nstdout: %q\nexit code: %d\n", acks, out, m.Code)
			close(done)
		}
	}))
	proc = system.Root.Spawn(process.Props(process.Options{Handler: handler}))
	defer func() { _ = system.Root.StopFuture(proc).Wait() }()

	res, _ := system.Root.RequestFuture(proc, &procmsg.Spawn{Path: "cat"}, 5*time.Second).Result()
	if _, ok := res.(*procmsg.Started); !ok {
		fmt.Println("spawn failed:", res)
		return
	}
	// Sent without a sender, the acknowledgement goes to the handler.
	system.Root.Send(proc, &procmsg.WriteStdin{Data: []byte("hello\n"), Ack: "greeting"})
	system.Root.Send(proc, &procmsg.CloseStdin{})
	<-done
	// Output:
	// written: [greeting]
	// stdout: "hello\n"
	// exit code: 0
}
