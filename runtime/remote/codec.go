package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/remote/remotepb"
	"github.com/microstack-go/microstack/transports"
)

// The registry of remote-safe message types and of the well-known errors
// that keep their identity across the boundary.
var registry = struct {
	sync.RWMutex
	byName  map[string]reflect.Type
	byType  map[reflect.Type]string
	errs    map[string]error
	errKeys []string // sorted, for a stable order of Failure.Codes
}{
	byName: map[string]reflect.Type{},
	byType: map[reflect.Type]string{},
	errs:   map[string]error{},
}

func init() {
	Register(
		// The gateway's own questions.
		remotemsg.GetTree{}, remotemsg.Tree{}, remotemsg.GetHealth{}, remotemsg.Health{},
		// Logs: recent records, the live tail, levels.
		logmsg.Query{}, logmsg.Records{}, logmsg.Subscribe{}, logmsg.Subscribed{}, logmsg.Ack{},
		logmsg.SetLevel{}, logmsg.GetLevels{}, logmsg.Levels{},
		// The store, without Backup, Restore and Export, which name files
		// on the agent's disk.
		storemsg.Get{}, storemsg.Got{}, storemsg.Put{}, storemsg.Stored{},
		storemsg.Delete{}, storemsg.Deleted{}, storemsg.Has{}, storemsg.Checked{},
		storemsg.List{}, storemsg.Listed{}, storemsg.Batch{}, storemsg.Applied{},
		// Commands to a TCP connection or listener the agent holds, and
		// their answers. Connect, Bind and Register are left out: they name
		// PIDs of the agent's process.
		tcpmsg.Write{}, tcpmsg.Close{}, tcpmsg.Abort{}, tcpmsg.CloseWrite{},
		tcpmsg.GetStats{}, tcpmsg.ListenerStats{}, tcpmsg.ConnectionStats{},
		messages.WriteAck{}, messages.WriteRefused{}, messages.ResumeWriting{}, messages.WritingResumed{},
		messages.SuspendReading{}, messages.ResumeReading{}, messages.Passive{},
	)
	registerErrors(map[string]error{
		"messages.ErrBadCommand":     messages.ErrBadCommand,
		"messages.ErrNotConnected":   messages.ErrNotConnected,
		"messages.ErrClosed":         messages.ErrClosed,
		"messages.ErrTimeout":        messages.ErrTimeout,
		"messages.ErrUnknownCommand": messages.ErrUnknownCommand,
		"remotemsg.ErrNotRemotable":  remotemsg.ErrNotRemotable,
		"remotemsg.ErrNoActor":       remotemsg.ErrNoActor,
		"remotemsg.ErrForbidden":     remotemsg.ErrForbidden,
		"remotemsg.ErrUnreachable":   remotemsg.ErrUnreachable,
		"storemsg.ErrNotFound":       storemsg.ErrNotFound,
		"storemsg.ErrLocked":         storemsg.ErrLocked,
		"storemsg.ErrMissing":        storemsg.ErrMissing,
		"storemsg.ErrCorrupt":        storemsg.ErrCorrupt,
		"storemsg.ErrWrongKey":       storemsg.ErrWrongKey,
		"storemsg.ErrTooBig":         storemsg.ErrTooBig,
		"storemsg.ErrUnavailable":    storemsg.ErrUnavailable,
		"tcpmsg.ErrAlreadyConnected": tcpmsg.ErrAlreadyConnected,
		"tcpmsg.ErrAlreadyBound":     tcpmsg.ErrAlreadyBound,
		"tcpmsg.ErrNotBound":         tcpmsg.ErrNotBound,
		"tcpmsg.ErrIdleTimeout":      tcpmsg.ErrIdleTimeout,
		"transports.ErrClosed":       transports.ErrClosed,
		"transports.ErrRefused":      transports.ErrRefused,
		"transports.ErrTimeout":      transports.ErrTimeout,
		"transports.ErrReset":        transports.ErrReset,
		"transports.ErrTLS":          transports.ErrTLS,
		"transports.ErrAddrInUse":    transports.ErrAddrInUse,
	})
}

// Register marks the types of the given messages (structs or pointers to
// structs) as remote-safe: plain data that encoding/json carries faithfully.
// A registered type is known on the wire by its Go name ("storemsg.Get").
// Every process that sends or receives a type must register it, usually
// from an init function; the gateway refuses the rest with
// remotemsg.ErrNotRemotable. Register panics when two types share a name.
func Register(examples ...any) {
	registry.Lock()
	defer registry.Unlock()
	for _, ex := range examples {
		t := structType(ex)
		if t == nil {
			panic(fmt.Sprintf("remote.Register: %T is not a struct", ex))
		}
		name := t.String()
		if old, ok := registry.byName[name]; ok && old != t {
			panic(fmt.Sprintf("remote.Register: %s names both %s and %s", name, old.PkgPath(), t.PkgPath()))
		}
		registry.byName[name] = t
		registry.byType[t] = name
	}
}

// RegisterError lets err keep its identity across the boundary under code:
// a remote caller's errors.Is(err, target) finds it in an answer's error.
// Module sentinels (messages.Err*, storemsg.Err*, ...) are registered.
func RegisterError(code string, err error) { registerErrors(map[string]error{code: err}) }

func registerErrors(m map[string]error) {
	registry.Lock()
	defer registry.Unlock()
	for code, err := range m {
		if _, ok := registry.errs[code]; !ok {
			registry.errKeys = append(registry.errKeys, code)
		}
		registry.errs[code] = err
	}
	sort.Strings(registry.errKeys)
}

// Remotable reports whether msg's type is registered as remote-safe.
func Remotable(msg any) bool {
	_, err := typeName(msg)
	return err == nil
}

// NotRemotableError refuses a message whose type is not registered as
// remote-safe. errors.Is(err, remotemsg.ErrNotRemotable) is true.
type NotRemotableError struct {
	// Type is the Go type of the refused message, as %T prints it.
	Type string
}

// Error names the type and says why it was refused.
func (e *NotRemotableError) Error() string {
	return fmt.Sprintf("remote: %s is not remotable: only types registered with remote.Register cross processes", e.Type)
}

// Is makes errors.Is(err, remotemsg.ErrNotRemotable) true.
func (e *NotRemotableError) Is(target error) bool { return target == remotemsg.ErrNotRemotable }

// Error is an error that crossed the process boundary: its text and the
// well-known errors it wrapped, which errors.Is still finds
// (errors.Is(err, storemsg.ErrNotFound)).
type Error struct {
	Message string
	// Codes names the registered errors the original error wrapped.
	Codes []string
}

// Error returns the original error's text.
func (e *Error) Error() string { return e.Message }

// Is reports whether the original error wrapped target.
func (e *Error) Is(target error) bool {
	registry.RLock()
	defer registry.RUnlock()
	for _, c := range e.Codes {
		if registry.errs[c] == target {
			return true
		}
	}
	return false
}

func structType(v any) reflect.Type {
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

func typeName(msg any) (string, error) {
	t := structType(msg)
	registry.RLock()
	name, ok := registry.byType[t]
	registry.RUnlock()
	if !ok {
		return "", &NotRemotableError{Type: fmt.Sprintf("%T", msg)}
	}
	return name, nil
}

// encode turns a registered message into its wire name and JSON.
func encode(msg any) (string, []byte, error) {
	name, err := typeName(msg)
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return "", nil, fmt.Errorf("remote: encode %s: %w", name, err)
	}
	return name, b, nil
}

// decode returns a pointer to a new value of the registered type name,
// filled from payload.
func decode(name string, payload []byte) (any, error) {
	registry.RLock()
	t, ok := registry.byName[name]
	registry.RUnlock()
	if !ok {
		return nil, &NotRemotableError{Type: name}
	}
	v := reflect.New(t)
	if err := json.Unmarshal(payload, v.Interface()); err != nil {
		return nil, fmt.Errorf("remote: decode %s: %w", name, err)
	}
	return v.Interface(), nil
}

// failure is err as it crosses the boundary.
func failure(err error, command bool) *remotepb.Failure {
	f := &remotepb.Failure{Message: err.Error(), Command: command}
	registry.RLock()
	defer registry.RUnlock()
	for _, code := range registry.errKeys {
		if errors.Is(err, registry.errs[code]) {
			f.Codes = append(f.Codes, code)
		}
	}
	return f
}

func fromFailure(f *remotepb.Failure) *Error {
	return &Error{Message: f.GetMessage(), Codes: f.GetCodes()}
}

// replyTo builds the Reply that carries an actor's answer (or its failure).
func replyTo(answer any, err error) *remotepb.Reply {
	if err != nil {
		return &remotepb.Reply{Failure: failure(err, false)}
	}
	switch a := answer.(type) {
	case *messages.CommandFailed:
		return &remotepb.Reply{Failure: failure(a.Err, true)}
	case *messages.Closed:
		// Closed carries an error, which JSON cannot: its reason goes as
		// the payload and its error as the failure.
		r := &remotepb.Reply{Type: closedType, Payload: []byte(fmt.Sprint(int(a.Reason)))}
		if a.Err != nil {
			r.Failure = failure(a.Err, true)
		}
		return r
	}
	name, payload, err := encode(answer)
	if err != nil {
		return &remotepb.Reply{Failure: failure(fmt.Errorf("answer refused at the boundary: %w", err), false)}
	}
	return &remotepb.Reply{Type: name, Payload: payload}
}

const closedType = "messages.Closed"

// answerOf reads a Reply back into the typed answer: the actor's message, a
// *messages.CommandFailed whose Cmd is the command sent, or an error when
// the gateway could not deliver or the answer could not cross.
func answerOf(cmd any, r *remotepb.Reply) (any, error) {
	if r.GetType() == closedType {
		c := &messages.Closed{}
		var reason int
		if _, err := fmt.Sscan(string(r.GetPayload()), &reason); err == nil {
			c.Reason = messages.CloseReason(reason)
		}
		if f := r.GetFailure(); f != nil {
			c.Err = fromFailure(f)
		}
		return c, nil
	}
	if f := r.GetFailure(); f != nil {
		if f.GetCommand() {
			return &messages.CommandFailed{Cmd: cmd, Err: fromFailure(f)}, nil
		}
		return nil, fromFailure(f)
	}
	return decode(r.GetType(), r.GetPayload())
}

// trimTarget removes blanks and a leading slash from an actor path.
func trimTarget(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "/") }
