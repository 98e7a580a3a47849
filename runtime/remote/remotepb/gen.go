// Package remotepb holds the protobuf envelopes that carry microstack's
// typed messages between processes over protoactor-go's remote layer: an
// Envelope with a registered type name and a JSON payload, and the Reply
// that answers it. Package runtime/remote builds and reads them; a user
// never needs them directly.
package remotepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative microstack_remote.proto
