package process

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages/procmsg"
	"github.com/microstack-go/microstack/runtime/clock"
)

// Options configures a process pipe actor. The zero value runs children on
// plain pipes, as the actor's own user, with no timeout.
type Options struct {
	// Handler receives the child's events (Stdout, Stderr, Exited,
	// messages.Passive). Default: the sender of Spawn, so set it when Spawn
	// is sent with RequestFuture, whose future takes one reply only. A
	// messages.Register changes it later.
	Handler *actor.PID
	// Start, when set, is spawned as soon as the actor starts, with Handler
	// as its handler, so that a supervisor can run a helper program as a
	// child spec. The actor then lives as long as the child: it stops after
	// a clean exit (status 0) and fails after any other, so that the
	// supervisor's restart policy decides whether the program runs again.
	Start *procmsg.Spawn
	// PTY runs the child under a pseudo-terminal (as MeshAgent does for
	// terminal sessions): its standard input, output and error are the
	// terminal, TERM is xterm-256color unless Spawn.Env sets it, and the child
	// leads a new session. There are no Stderr events.
	// Unix only: on Windows a Spawn with PTY set fails with
	// procmsg.ErrUnsupported.
	PTY bool
	// Rows and Cols size the pseudo-terminal. Defaults 25 and 80, as
	// MicroStack's forkpty.
	Rows, Cols uint16
	// Credential runs the child as another user and group (Unix; the actor
	// must run as root, or on Linux hold CAP_SETUID and CAP_SETGID). Nil
	// runs it as the actor's own user. On Windows a Spawn with a Credential
	// fails with procmsg.ErrUnsupported.
	Credential *Credential
	// Timeout, when positive, ends the child that runs longer: SIGTERM to its
	// process group, then SIGKILL after Grace (on Windows the child is
	// killed at once). Exited.TimedOut is set.
	Timeout time.Duration
	// Grace is how long a child (and its process group) has between SIGTERM
	// and SIGKILL when the actor stops or a Timeout expires. Default 5s.
	// The actor's stop waits that long at most. Windows has no SIGTERM: the
	// child is killed at once.
	Grace time.Duration
	// Credits is how many output events (Stdout and Stderr, each at most
	// ReadSize bytes) the handler may receive after Spawn before it must
	// grant more with messages.ResumeReading. Default 16; negative means
	// unlimited (push mode, no bound on the handler's mailbox).
	Credits int
	// ReadSize is the most bytes one output event carries. Default 32 KiB.
	ReadSize int
	// MaxBuffered caps the output bytes read from the child and not yet
	// delivered to the handler. When it is reached the actor stops reading
	// and the child's writes block in the kernel. Default 256 KiB; at least
	// twice ReadSize, so that a reader waiting on a quiet stderr cannot
	// starve stdout.
	MaxBuffered int
	// MaxStdin caps the bytes of WriteStdin queued and not yet written to
	// the child. A write past it is refused (messages.WriteRefused), and so
	// is every later write, until the writer sends messages.ResumeWriting;
	// that is answered with messages.WritingResumed once the queue is at or
	// below half of MaxStdin (at once if it already is), and the writer then
	// resends the refused writes in order. Default 1 MiB.
	MaxStdin int
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
	// Clock times Timeout and Grace. Default clock.Real().
	Clock clock.Clock
}

// Credential is the user and groups a child runs as, by numeric id. It is
// portable so that Options builds everywhere; only Unix systems honour it.
type Credential struct {
	// UID and GID are the child's user and primary group.
	UID, GID uint32
	// Groups are its supplementary groups; nil leaves it none.
	Groups []uint32
}

const (
	defaultGrace       = 5 * time.Second
	defaultCredits     = 16
	defaultReadSize    = 32 << 10
	defaultMaxBuffered = 256 << 10
	defaultMaxStdin    = 1 << 20
)

func (o Options) withDefaults() Options {
	if o.Rows == 0 {
		o.Rows = 25
	}
	if o.Cols == 0 {
		o.Cols = 80
	}
	if o.Grace <= 0 {
		o.Grace = defaultGrace
	}
	if o.Credits == 0 {
		o.Credits = defaultCredits
	}
	if o.ReadSize <= 0 {
		o.ReadSize = defaultReadSize
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = defaultMaxBuffered
	}
	o.MaxBuffered = max(o.MaxBuffered, 2*o.ReadSize)
	if o.MaxStdin <= 0 {
		o.MaxStdin = defaultMaxStdin
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return o
}
