package webrtc_test

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// Two peers in one process, over loopback: a opens a channel and offers, b
// answers, and a's first message arrives at b's handler.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()

	// Each peer's handler turns the events it needs into Go values.
	events := func() (*actor.PID, chan any) {
		ch := make(chan any, 64)
		pid := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *rtcmsg.DataChannelOpened, *rtcmsg.Message:
				ch <- m
			}
		}))
		return pid, ch
	}
	handlerA, eventsA := events()
	handlerB, eventsB := events()
	opts := webrtc.Options{LoopbackOnly: true}
	opts.Handler = handlerA
	a := system.Root.Spawn(webrtc.Props(opts))
	opts.Handler = handlerB
	b := system.Root.Spawn(webrtc.Props(opts))
	defer func() {
		_ = system.Root.StopFuture(a).Wait()
		_ = system.Root.StopFuture(b).Wait()
	}()

	ask := func(pid *actor.PID, msg any) any {
		reply, err := system.Root.RequestFuture(pid, msg, 10*time.Second).Result()
		if err != nil {
			panic(err)
		}
		return reply
	}
	system.Root.Send(a, &rtcmsg.OpenDataChannel{Label: "chat", Handler: handlerA})
	offer := ask(a, &rtcmsg.CreateOffer{WaitForCandidates: true}).(*rtcmsg.LocalDescription)
	answer := ask(b, &rtcmsg.SetRemoteDescription{Type: offer.Type, SDP: offer.SDP, WaitForCandidates: true}).(*rtcmsg.LocalDescription)
	ask(a, &rtcmsg.SetRemoteDescription{Type: answer.Type, SDP: answer.SDP})

	opened := (<-eventsA).(*rtcmsg.DataChannelOpened)
	system.Root.Send(opened.Channel, &rtcmsg.Send{Data: []byte("hello"), Text: true})
	for e := range eventsB {
		if m, ok := e.(*rtcmsg.Message); ok {
			fmt.Printf("b got %q on a channel a opened\n", m.Data)
			break
		}
	}
	// Output:
	// b got "hello" on a channel a opened
}
