package logmsg_test

import (
	"fmt"
	"log/slog"

	"github.com/microstack-go/microstack/messages/logmsg"
)

// A query for the last warnings of one module, and what a batch of records
// carries.
func Example() {
	q := &logmsg.Query{Limit: 50, Filter: logmsg.Filter{MinLevel: slog.LevelWarn, Modules: []string{"echo-tcp"}}}
	batch := &logmsg.Records{Records: []logmsg.Record{{Seq: 41, Level: slog.LevelWarn, Module: "echo-tcp", Message: "write refused"}}, Dropped: 3, Last: 41}
	fmt.Println(q.Filter.MinLevel, q.Filter.Modules)
	for _, r := range batch.Records {
		fmt.Println(r.Seq, r.Level, r.Module, r.Message)
	}
	fmt.Println("lost to a slow reader:", batch.Dropped)
	// Output:
	// WARN [echo-tcp]
	// 41 WARN echo-tcp write refused
	// lost to a slow reader: 3
}
