package remotepb_test

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/microstack-go/microstack/runtime/remote/remotepb"
)

// An Envelope as protoactor's protobuf serializer carries it.
func ExampleEnvelope() {
	b, _ := proto.Marshal(&remotepb.Envelope{Target: "@store", Type: "storemsg.Get", Payload: []byte(`{"Key":"aw=="}`), Reply: true})
	var env remotepb.Envelope
	_ = proto.Unmarshal(b, &env)
	fmt.Println(env.GetTarget(), env.GetType(), string(env.GetPayload()))
	// Output: @store storemsg.Get {"Key":"aw=="}
}
