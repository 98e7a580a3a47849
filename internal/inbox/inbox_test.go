package inbox_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/microstack-go/microstack/internal/inbox"
)

func TestOneWakeUpPerBatchAndNothingLost(t *testing.T) {
	var mu sync.Mutex
	wakes := 0
	b := inbox.New(func() { mu.Lock(); wakes++; mu.Unlock() })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b.Put(g*1000 + i)
			}
		}()
	}
	wg.Wait()
	got := b.Take()
	if len(got) != 8000 {
		t.Fatalf("took %d results, want 8000", len(got))
	}
	if wakes != 1 {
		t.Fatalf("%d wake-ups for one batch, want 1", wakes)
	}
	b.Put("again")
	if wakes != 2 || len(b.Take()) != 1 || len(b.Take()) != 0 {
		t.Fatalf("wakes %d after a second batch", wakes)
	}
}

func Example() {
	woken := make(chan struct{}, 1)
	b := inbox.New(func() { woken <- struct{}{} })
	go b.Put("commit done")
	<-woken // in an actor: a nudge message in its mailbox
	fmt.Println(b.Take())
	// Output: [commit done]
}

func TestGoPutsTheResultAndCountsTheGoroutine(t *testing.T) {
	woken := make(chan struct{}, 1)
	b := inbox.New(func() { woken <- struct{}{} })
	var wg sync.WaitGroup
	release := make(chan struct{})
	b.Go(&wg, func() any { <-release; return "done" })
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("wg did not count the goroutine Go started")
	default:
	}
	close(release)
	<-woken
	<-waited
	if got := b.Take(); len(got) != 1 || got[0] != "done" {
		t.Fatalf("took %v", got)
	}
}
