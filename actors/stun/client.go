// Package stun holds microstack's STUN actors (RFC 5389), the counterpart of
// MicroStack's ILibStunClient: a client that learns this host's address as
// a STUN server sees it, and a small binding server an agent can run for its
// LAN and tests run against. Both speak the messages of package
// messages/stunmsg and open their UDP socket through a transports.Network,
// never the net package.
//
// The client sends a binding request for each stunmsg.Bind and retransmits
// it as RFC 5389 section 7.2.1 says (RTO doubling from 500 ms, seven
// requests, then sixteen RTOs of waiting) until the server answers; it
// answers stunmsg.MappedAddress or a messages.CommandFailed. The server
// answers binding requests with XOR-MAPPED-ADDRESS. Both count malformed
// datagrams (the "malformed" counter of the runtime's actor table), drop
// them and keep serving.
package stun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pionstun "github.com/pion/stun/v2"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/stunmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// Kinds of the STUN actors in the runtime's tree.
const (
	Kind       = "stun.client"
	ServerKind = "stun.server"
)

// Props returns the props of a STUN client actor configured by opts.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &client{opts: opts} })
}

// ChildSpec returns a supervisor child spec that runs a STUN client named
// name: permanent, so a client whose socket fails is restarted.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    Kind,
		Props:   func() *actor.Props { return Props(opts) },
		Restart: supervisor.Permanent,
	}
}

// transaction is one Bind in flight.
type transaction struct {
	from     *actor.PID
	cmd      *stunmsg.Bind
	server   netip.AddrPort
	raw      []byte
	attempts int
	rto      time.Duration // wait after the latest request
	sentAt   time.Time
	timer    clock.Timer
}

type client struct {
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	stats *inspect.Entry
	self  *actor.PID
	root  *actor.RootContext

	sock    *socket
	pending map[[pionstun.TransactionIDSize]byte]*transaction

	// Look-ups of server names run in goroutines the actor owns.
	resolving sync.WaitGroup
	cancel    context.CancelFunc
	ctx       context.Context
}

// retransmit is a transaction's timer firing.
type retransmit struct {
	id [pionstun.TransactionIDSize]byte
}

// resolved is the end of a server name look-up.
type resolved struct {
	from   *actor.PID
	cmd    *stunmsg.Bind
	server netip.AddrPort
	err    error
}

// Receive is the table of contents of the client actor.
func (c *client) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		c.release(ctx)
	case *actor.Stopped:
	case *stunmsg.Bind:
		c.bind(ctx, ctx.Sender(), m)
	case *stunmsg.GetLocalAddress:
		c.localAddress(ctx, m)
	case resolved:
		c.resolved(ctx, m)
	case retransmit:
		c.retransmit(ctx, m.id)
	case packetIn:
		c.packet(ctx, m.p)
	case socketClosed:
		c.socketClosed(m)
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("stun: %T: %w", m, messages.ErrUnknownCommand)})
		}
	}
}

func (c *client) start(ctx actor.Context) {
	c.self = ctx.Self()
	c.root = ctx.ActorSystem().Root
	c.log = c.opts.Logger.With("actor", c.self.Id, "kind", Kind)
	c.stats = inspect.Of(ctx)
	c.clk = c.opts.Clock
	if c.clk == nil {
		c.clk = runtime.ClockOf(ctx.ActorSystem())
	}
	c.pending = make(map[[pionstun.TransactionIDSize]byte]*transaction)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	sock, err := openSocket(ctx, c.opts.Network, c.opts.Local)
	if err != nil {
		// Without a socket there is nothing to do: fail, and let the
		// supervisor's restart policy decide.
		c.cancel()
		panic(err)
	}
	c.sock = sock
	c.log.Debug("stun client ready", "local", sock.local)
}

// release fails every transaction in flight, closes the socket and waits
// for the look-ups.
func (c *client) release(ctx actor.Context) {
	if c.cancel != nil {
		c.cancel()
	}
	c.resolving.Wait()
	for id, t := range c.pending {
		t.timer.Stop()
		c.fail(ctx, t.from, t.cmd, fmt.Errorf("stun: %w", messages.ErrClosed))
		delete(c.pending, id)
	}
	c.sock.close()
	c.sock = nil
}

func (c *client) localAddress(ctx actor.Context, m *stunmsg.GetLocalAddress) {
	if c.sock == nil {
		c.fail(ctx, ctx.Sender(), m, fmt.Errorf("stun: %w", messages.ErrClosed))
		return
	}
	c.reply(ctx, ctx.Sender(), &stunmsg.LocalAddress{Addr: c.sock.local})
}

// bind parses the server, resolving a host name in a goroutine, and starts
// the transaction.
func (c *client) bind(ctx actor.Context, from *actor.PID, m *stunmsg.Bind) {
	if c.sock == nil {
		c.fail(ctx, from, m, fmt.Errorf("stun: %w", messages.ErrClosed))
		return
	}
	host, port, err := parseServer(m.Server)
	if err != nil {
		c.fail(ctx, from, m, err)
		return
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		c.resolved(ctx, resolved{from: from, cmd: m, server: netip.AddrPortFrom(addr, port)})
		return
	}
	c.resolving.Add(1)
	go func(ctx context.Context, resolve func(context.Context, string) ([]netip.Addr, error), timeout time.Duration, want4 bool) {
		defer c.resolving.Done()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r := resolved{from: from, cmd: m}
		addrs, err := resolve(ctx, host)
		if err != nil {
			r.err = fmt.Errorf("%w: resolve %q: %w", stunmsg.ErrBadServer, host, err)
		} else {
			r.err = fmt.Errorf("%w: %q has no address of the socket's family", stunmsg.ErrBadServer, host)
			for _, a := range addrs {
				if a.Unmap().Is4() == want4 {
					r.server, r.err = netip.AddrPortFrom(a.Unmap(), port), nil
					break
				}
			}
		}
		c.root.Send(c.self, r)
	}(c.ctx, c.opts.Resolve, c.opts.ResolveTimeout, c.sock.local.Addr().Unmap().Is4())
}

// parseServer accepts "stun:host[:port]", "turn:host[:port]" (a TURN server
// answers binding requests too) and "host:port".
func parseServer(s string) (string, uint16, error) {
	var host, port string
	switch {
	case strings.HasPrefix(s, "stun:") || strings.HasPrefix(s, "turn:"):
		u, err := pionstun.ParseURI(s)
		if err != nil {
			return "", 0, fmt.Errorf("%w: %q: %w", stunmsg.ErrBadServer, s, err)
		}
		if u.Proto != pionstun.ProtoTypeUDP {
			return "", 0, fmt.Errorf("%w: %q: only UDP is supported", stunmsg.ErrBadServer, s)
		}
		host, port = u.Host, strconv.Itoa(u.Port)
	default:
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return "", 0, fmt.Errorf("%w: %q: %w", stunmsg.ErrBadServer, s, err)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || host == "" {
		return "", 0, fmt.Errorf("%w: %q: bad host or port", stunmsg.ErrBadServer, s)
	}
	return strings.Trim(host, "[]"), uint16(p), nil
}

func (c *client) resolved(ctx actor.Context, r resolved) {
	if r.err != nil {
		c.fail(ctx, r.from, r.cmd, r.err)
		return
	}
	if c.sock == nil {
		c.fail(ctx, r.from, r.cmd, fmt.Errorf("stun: %w", messages.ErrClosed))
		return
	}
	server := netip.AddrPortFrom(r.server.Addr().Unmap(), r.server.Port())
	if server.Addr().Is4() != c.sock.local.Addr().Unmap().Is4() {
		c.fail(ctx, r.from, r.cmd, fmt.Errorf("%w: %v is not of the socket's family (%v)", stunmsg.ErrBadServer, server, c.sock.local))
		return
	}
	setters := []pionstun.Setter{pionstun.TransactionID, pionstun.BindingRequest}
	if c.opts.Software != "" {
		setters = append(setters, pionstun.NewSoftware(c.opts.Software))
	}
	setters = append(setters, pionstun.Fingerprint)
	msg, err := pionstun.Build(setters...)
	if err != nil {
		c.fail(ctx, r.from, r.cmd, fmt.Errorf("stun: build request: %w", err))
		return
	}
	t := &transaction{from: r.from, cmd: r.cmd, server: server, raw: msg.Raw, rto: c.opts.RTO}
	c.pending[msg.TransactionID] = t
	c.send(ctx, msg.TransactionID, t)
}

// send sends the transaction's request once more and arms its timer: the
// RTO, doubled after each request, and LastWait RTOs after the last.
func (c *client) send(ctx actor.Context, id [pionstun.TransactionIDSize]byte, t *transaction) {
	t.attempts++
	t.sentAt = c.clk.Now()
	if err := c.sock.conn.SendTo(t.raw, t.server); err != nil {
		delete(c.pending, id)
		c.fail(ctx, t.from, t.cmd, fmt.Errorf("stun: send to %v: %w", t.server, err))
		return
	}
	c.stats.Add("requests", 1)
	wait := t.rto
	if t.attempts >= c.opts.MaxRequests {
		wait = c.opts.RTO * time.Duration(c.opts.LastWait)
	}
	t.rto *= 2
	root, self := c.root, c.self
	t.timer = c.clk.AfterFunc(wait, func() { root.Send(self, retransmit{id}) })
}

func (c *client) retransmit(ctx actor.Context, id [pionstun.TransactionIDSize]byte) {
	t, ok := c.pending[id]
	if !ok {
		return // answered meanwhile
	}
	if t.attempts >= c.opts.MaxRequests {
		delete(c.pending, id)
		c.stats.Add("timeouts", 1)
		c.fail(ctx, t.from, t.cmd, fmt.Errorf("stun: no answer from %v after %d requests: %w", t.server, t.attempts, messages.ErrTimeout))
		return
	}
	c.stats.Add("retransmissions", 1)
	c.send(ctx, id, t)
}

// packet handles a datagram: a response to a transaction in flight, or
// something to count and drop.
func (c *client) packet(ctx actor.Context, p transports.Packet) {
	m, ok := decode(p, c.stats)
	if !ok {
		return
	}
	t, ok := c.pending[m.TransactionID]
	if !ok || m.Type.Method != pionstun.MethodBinding || netip.AddrPortFrom(p.From.Addr().Unmap(), p.From.Port()) != t.server {
		c.stats.Add("ignored", 1)
		return
	}
	switch m.Type.Class {
	case pionstun.ClassSuccessResponse:
		delete(c.pending, m.TransactionID)
		t.timer.Stop()
		addr, err := mappedAddress(m)
		if err != nil {
			c.fail(ctx, t.from, t.cmd, err)
			return
		}
		c.reply(ctx, t.from, &stunmsg.MappedAddress{
			Server: t.server, Addr: addr, Local: c.sock.local,
			RTT: c.clk.Now().Sub(t.sentAt), Attempts: t.attempts,
		})
	case pionstun.ClassErrorResponse:
		delete(c.pending, m.TransactionID)
		t.timer.Stop()
		var code pionstun.ErrorCodeAttribute
		if err := code.GetFrom(m); err != nil {
			c.fail(ctx, t.from, t.cmd, fmt.Errorf("%w from %v (no error code)", stunmsg.ErrErrorResponse, t.server))
			return
		}
		c.fail(ctx, t.from, t.cmd, fmt.Errorf("%w from %v: %d %s", stunmsg.ErrErrorResponse, t.server, code.Code, code.Reason))
	default:
		c.stats.Add("ignored", 1)
	}
}

// mappedAddress reads XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an RFC
// 3489 server.
func mappedAddress(m *pionstun.Message) (netip.AddrPort, error) {
	var xor pionstun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		return addrPort(xor.IP, xor.Port)
	}
	var mapped pionstun.MappedAddress
	if err := mapped.GetFrom(m); err == nil {
		return addrPort(mapped.IP, mapped.Port)
	}
	return netip.AddrPort{}, stunmsg.ErrNoAddress
}

func addrPort(ip net.IP, port int) (netip.AddrPort, error) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port < 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w: bad address %v:%d", stunmsg.ErrNoAddress, ip, port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// decode parses a datagram as a STUN message, counting and rejecting what
// is not one: cut datagrams, other protocols, bad lengths and a
// FINGERPRINT that does not match.
func decode(p transports.Packet, stats *inspect.Entry) (*pionstun.Message, bool) {
	if p.Truncated || !pionstun.IsMessage(p.Data) {
		stats.Add("malformed", 1)
		return nil, false
	}
	m := &pionstun.Message{Raw: p.Data}
	if err := m.Decode(); err != nil {
		stats.Add("malformed", 1)
		return nil, false
	}
	if m.Contains(pionstun.AttrFingerprint) {
		if err := pionstun.Fingerprint.Check(m); err != nil {
			stats.Add("malformed", 1)
			return nil, false
		}
	}
	return m, true
}

// socketClosed fails the actor when its socket ends on its own: the
// supervisor's restart opens a new one.
func (c *client) socketClosed(m socketClosed) {
	if c.sock == nil || m.sock != c.sock {
		return // our own close, or a previous incarnation's socket
	}
	err := m.err
	if err == nil {
		err = errors.New("socket closed")
	}
	panic(fmt.Errorf("stun: socket %v: %w", c.sock.local, err))
}

func (c *client) reply(ctx actor.Context, to *actor.PID, msg any) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

func (c *client) fail(ctx actor.Context, to *actor.PID, cmd any, err error) {
	c.stats.Add("failures", 1)
	c.reply(ctx, to, &messages.CommandFailed{Cmd: cmd, Err: err})
}
