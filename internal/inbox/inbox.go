// Package inbox holds results that goroutines an actor owns hand back to it
// (a finished disk commit, a chunk a child process wrote), outside the
// actor's mailbox. The actor is woken once per batch and takes the whole
// batch; results that arrive after the actor stopped taking messages are
// still there for its shutdown code to handle, which a mailbox would have
// sent to dead letters.
package inbox

import "sync"

// Inbox is safe for concurrent use. The zero value is not usable; call New.
type Inbox struct {
	wake  func()
	mu    sync.Mutex
	items []any
}

// New returns an empty inbox that calls wake (typically: send the actor a
// nudge message) when a result arrives in an empty inbox.
func New(wake func()) *Inbox { return &Inbox{wake: wake} }

// Put adds a result and wakes the owner if the inbox was empty.
func (b *Inbox) Put(v any) {
	b.mu.Lock()
	b.items = append(b.items, v)
	first := len(b.items) == 1
	b.mu.Unlock()
	if first {
		b.wake()
	}
}

// Take returns every result waiting, in arrival order, and empties the
// inbox.
func (b *Inbox) Take() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}

// Go runs f on a new goroutine, counted in wg (which the owner waits for
// when it stops), and puts f's result.
func (b *Inbox) Go(wg *sync.WaitGroup, f func() any) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Put(f())
	}()
}
