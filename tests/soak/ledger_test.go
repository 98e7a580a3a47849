package soak

import (
	"strings"
	"testing"
)

// Each invariant of the ledger can fail: a ledger fed a broken history
// reports it.
func TestLedgerCatchesBrokenHistories(t *testing.T) {
	type op struct {
		kind byte // s(ent) a(cked) d(elivered) e(nd)
		seq  uint64
		end  StreamEnd
	}
	sendAck := func(n uint64) []op {
		var ops []op
		for i := uint64(1); i <= n; i++ {
			ops = append(ops, op{kind: 's', seq: i}, op{kind: 'a', seq: i})
		}
		return ops
	}
	deliver := func(seqs ...uint64) []op {
		var ops []op
		for _, s := range seqs {
			ops = append(ops, op{kind: 'd', seq: s})
		}
		return ops
	}
	cases := []struct {
		name string
		ops  []op
		want string // "" means no violation
	}{
		{"all delivered", append(sendAck(5), deliver(1, 2, 3, 4, 5)...), ""},
		{"acknowledged write dropped", append(sendAck(5), deliver(1, 2, 4, 5)...), "lost or reordered"},
		{"acknowledged tail lost on an open stream", append(sendAck(5), deliver(1, 2, 3)...), "acknowledged writes lost"},
		{"acknowledged tail lost on a clean close", append(append(sendAck(3), deliver(1)...), op{kind: 'e', end: Clean}), "acknowledged writes lost"},
		{"tail lost on a broken stream is allowed", append(append(sendAck(3), deliver(1)...), op{kind: 'e', end: Broken}), ""},
		{"duplicate", append(sendAck(3), deliver(1, 2, 2, 3)...), "again or out of order"},
		{"reordered", append(sendAck(3), deliver(1, 3, 2)...), "lost or reordered"},
		{"phantom", append(sendAck(2), deliver(1, 2, 3)...), "never sent"},
		{"ack of unsent", []op{{kind: 's', seq: 1}, {kind: 'a', seq: 2}}, "never sent"},
		{"acks out of order", []op{{kind: 's', seq: 1}, {kind: 's', seq: 2}, {kind: 'a', seq: 2}, {kind: 'a', seq: 1}}, "ack of 1 after ack of 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			for _, o := range tc.ops {
				switch o.kind {
				case 's':
					l.Sent("s", o.seq)
				case 'a':
					l.Acked("s", o.seq)
				case 'd':
					l.Delivered("s", o.seq)
				case 'e':
					l.End("s", o.end)
				}
			}
			got := strings.Join(l.Check(), "\n")
			switch {
			case tc.want == "" && got != "":
				t.Fatalf("violations %q in a good history", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("violations %q, want one with %q", got, tc.want)
			}
		})
	}
}
