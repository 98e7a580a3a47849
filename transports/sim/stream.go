package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/microstack-go/microstack/transports"
)

const (
	defaultWindow   = 64 << 10
	defaultReadSize = 32 << 10
	backlogMax      = 128
)

type segKind int

const (
	segData segKind = iota
	segFin
	segRst
	segAck
	segSyn
	segSynAck
)

// segment is what one direction of a stream carries, in order.
type segment struct {
	kind segKind
	data []byte
	ack  int
	at   time.Time
}

// stream is one end of a simulated connection. Every field after the
// first group is guarded by n.mu.
type stream struct {
	n              *Network
	host, peerHost *Host
	local, remote  netip.AddrPort
	readSize       int
	recvWindow     int // what the peer may have in flight to us

	peer       *stream
	window     int // what we may have in flight to the peer
	tlsState   *tls.ConnectionState
	connecting bool
	dialDone   chan error
	dialTLS    *tls.Config

	started, reading bool
	h                transports.StreamHandler
	sendQ            [][]byte
	wantFin, finSent bool
	closing          bool // flush, then close
	localClosed      bool // Close or Abort was called
	inflight         int
	wire             []*segment // on the way to the peer
	lastAt           time.Time
	heldSince        time.Time // the head of wire is held by a partition
	recvQ            []*segment
	peerFin          bool
	dead             bool
	ended            bool // OnClosed queued
	reason           error
	reasoned         bool
}

var _ transports.Stream = (*stream)(nil)

func (n *Network) newStream(h, peer *Host, local, remote netip.AddrPort, o transports.StreamOptions) *stream {
	s := &stream{n: n, host: h, peerHost: peer, local: local, remote: remote, readSize: o.ReadSize,
		recvWindow: o.ReceiveBuffer, reading: true}
	if s.readSize <= 0 {
		s.readSize = defaultReadSize
	}
	if s.recvWindow <= 0 {
		s.recvWindow = defaultWindow
	}
	n.streams = append(n.streams, s)
	return s
}

func (s *stream) LocalAddr() netip.AddrPort  { return s.local }
func (s *stream) RemoteAddr() netip.AddrPort { return s.remote }

func (s *stream) TLS() *tls.ConnectionState {
	if s.tlsState == nil {
		return nil
	}
	st := *s.tlsState
	return &st
}

func (s *stream) Start(h transports.StreamHandler) error {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.started {
		return transports.ErrStarted
	}
	if s.localClosed {
		return transports.ErrClosed
	}
	s.started, s.h = true, h
	n.after(0, func() {
		if s.dead && !s.ended {
			// Reset before its owner started it: tell the owner now.
			s.ended = true
			reason := s.reason
			n.call(func() { h.OnClosed(reason) })
			return
		}
		n.pump(s)
		n.deliver(s)
	})
	return nil
}

func (s *stream) Write(b []byte) error {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.localClosed || s.wantFin || s.dead || s.closing {
		return fmt.Errorf("write to %v: %w", s.remote, transports.ErrClosed)
	}
	if len(b) > 0 {
		s.sendQ = append(s.sendQ, b)
		n.after(0, func() { n.pump(s) })
	}
	return nil
}

func (s *stream) SetReading(on bool) {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	s.reading = on
	if on {
		n.after(0, func() { n.deliver(s) })
	}
}

func (s *stream) CloseWrite() error {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.localClosed || s.wantFin || s.dead || s.closing {
		return transports.ErrClosed
	}
	s.wantFin = true
	n.after(0, func() { n.pump(s) })
	return nil
}

func (s *stream) Close() error {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.localClosed || s.dead || s.closing {
		return transports.ErrClosed
	}
	s.localClosed, s.closing = true, true
	if !s.started {
		s.sendQ = nil // as on the OS: no writer before Start
		n.after(0, func() {
			if s.dead {
				return
			}
			if s.peer != nil && !s.connecting && !s.finSent {
				s.finSent = true
				n.record(TraceEvent{Kind: "fin", Proto: "tcp", From: s.local, To: s.remote})
				n.transmit(s, &segment{kind: segFin})
			}
			n.finish(s, nil)
		})
		return nil
	}
	n.after(0, func() { n.pump(s) })
	return nil
}

func (s *stream) Abort() error {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.localClosed && (s.dead || !s.closing) {
		return transports.ErrClosed
	}
	s.localClosed = true
	s.sendQ = nil
	n.after(0, func() {
		if s.dead {
			return
		}
		if s.peer != nil {
			n.record(TraceEvent{Kind: "rst", Proto: "tcp", From: s.local, To: s.remote})
			n.transmit(s, &segment{kind: segRst})
		}
		n.finish(s, transports.ErrAborted)
	})
	return nil
}

// gone reports a stream with nothing left to do.
func (s *stream) gone() bool { return s.dead && len(s.wire) == 0 && !s.connecting }

// finish ends s: it reports OnClosed once, if started.
func (n *Network) finish(s *stream, err error) {
	if !s.reasoned {
		s.reason, s.reasoned = err, true
	}
	s.dead = true
	s.sendQ, s.recvQ = nil, nil
	if s.started && !s.ended {
		s.ended = true
		h, reason := s.h, s.reason
		n.call(func() { h.OnClosed(reason) })
	}
}

// emit queues a handler call unless OnClosed was queued.
func (n *Network) emit(s *stream, f func(transports.StreamHandler)) {
	if !s.started || s.ended {
		return
	}
	h := s.h
	n.call(func() { f(h) })
}

// transmit puts seg on s's wire toward its peer.
func (n *Network) transmit(s *stream, seg *segment) {
	l := n.link(s.host, s.peerHost)
	d := n.delay(l)
	if seg.kind == segData && n.chance(l.Loss) {
		rd := l.RetransmitDelay
		if rd <= 0 {
			rd = 200 * time.Millisecond
		}
		d += rd
		n.record(TraceEvent{Kind: "retransmit", Proto: "tcp", From: s.local, To: s.remote, Len: len(seg.data)})
	}
	at := n.clk.Now().Add(d)
	if at.Before(s.lastAt) {
		at = s.lastAt // a stream never reorders
	}
	s.lastAt, seg.at = at, at
	s.wire = append(s.wire, seg)
	if s.heldSince.IsZero() {
		n.at(at, func() { n.arrive(s) })
	}
}

// arrive lands the due head of s's wire at the peer, unless a partition
// holds it.
func (n *Network) arrive(s *stream) {
	now := n.clk.Now()
	for len(s.wire) > 0 && !s.wire[0].at.After(now) {
		if n.partitioned(s.host, s.peerHost) {
			if s.heldSince.IsZero() {
				s.heldSince = now
				n.record(TraceEvent{Kind: "hold", Proto: "tcp", From: s.local, To: s.remote, Len: len(s.wire)})
				if pt := n.cfg.PartitionTimeout; pt > 0 {
					since := now
					n.after(pt, func() { n.holdTimeout(s, since) })
				}
			}
			return
		}
		seg := s.wire[0]
		s.wire[0] = nil
		s.wire = s.wire[1:]
		n.land(s, seg)
	}
}

// retime sends again, with fresh latency, what a healed partition held.
func (s *stream) retime() {
	n := s.n
	if s.heldSince.IsZero() || len(s.wire) == 0 {
		return
	}
	s.heldSince = time.Time{}
	l := n.link(s.host, s.peerHost)
	now := n.clk.Now()
	s.lastAt = now
	for _, seg := range s.wire {
		at := now.Add(n.delay(l))
		if at.Before(s.lastAt) {
			at = s.lastAt
		}
		s.lastAt, seg.at = at, at
		n.at(at, func() { n.arrive(s) })
	}
}

// holdTimeout gives up on a stream whose bytes a partition held too long,
// as TCP's retransmission timeout does. Pure acknowledgements are not
// retransmitted by TCP, so they never time out.
func (n *Network) holdTimeout(s *stream, since time.Time) {
	if !s.heldSince.Equal(since) || s.dead && !s.connecting {
		return
	}
	if !slices.ContainsFunc(s.wire, func(g *segment) bool { return g.kind != segAck }) {
		return
	}
	n.record(TraceEvent{Kind: "timeout", Proto: "tcp", From: s.local, To: s.remote})
	s.wire, s.heldSince = nil, time.Time{}
	err := fmt.Errorf("%w: %w", transports.ErrTimeout, ErrPartitioned)
	if s.connecting {
		n.dialFail(s, err)
		return
	}
	n.finish(s, err)
}

// land hands seg, sent by s, to s's peer.
func (n *Network) land(s *stream, seg *segment) {
	if seg.kind == segSyn {
		n.synArrive(s)
		return
	}
	r := s.peer
	if r == nil {
		return
	}
	if seg.kind == segSynAck {
		if r.connecting {
			r.connecting = false
			n.record(TraceEvent{Kind: "connect", Proto: "tcp", From: r.local, To: r.remote})
			r.dialDone <- nil
			return
		}
		seg = &segment{kind: segData} // a cancelled dial: answer with a reset
	}
	if r.dead {
		if seg.kind == segData && !s.dead {
			n.record(TraceEvent{Kind: "rst", Proto: "tcp", From: r.local, To: r.remote, Note: "closed port"})
			n.transmit(r, &segment{kind: segRst})
		}
		return
	}
	switch seg.kind {
	case segAck:
		r.inflight -= seg.ack
		n.pump(r)
	case segData:
		n.record(TraceEvent{Kind: "deliver", Proto: "tcp", From: s.local, To: r.local, Len: len(seg.data)})
		r.recvQ = append(r.recvQ, seg)
		n.deliver(r)
	case segFin, segRst:
		r.recvQ = append(r.recvQ, seg)
		n.deliver(r)
	}
}

// pump sends what the window allows, then a FIN, then closes when asked.
func (n *Network) pump(s *stream) {
	if !s.started || s.dead || s.connecting || s.peer == nil {
		return
	}
	for len(s.sendQ) > 0 && s.inflight < s.window {
		b := s.sendQ[0]
		if room := s.window - s.inflight; len(b) > room {
			s.sendQ[0] = b[room:]
			b = b[:room]
		} else {
			s.sendQ[0] = nil
			s.sendQ = s.sendQ[1:]
		}
		s.inflight += len(b)
		n.record(TraceEvent{Kind: "send", Proto: "tcp", From: s.local, To: s.remote, Len: len(b)})
		// The receiver owns what it gets; the writer may reuse b after
		// OnWritten.
		n.transmit(s, &segment{kind: segData, data: slices.Clone(b)})
		nb := len(b)
		n.emit(s, func(h transports.StreamHandler) { h.OnWritten(nb) })
	}
	if len(s.sendQ) > 0 {
		return
	}
	if (s.wantFin || s.closing) && !s.finSent {
		s.finSent = true
		n.record(TraceEvent{Kind: "fin", Proto: "tcp", From: s.local, To: s.remote})
		n.transmit(s, &segment{kind: segFin})
		if s.peerFin && !s.reasoned {
			s.reason, s.reasoned = transports.ErrPeerClosed, true
		}
		if s.peerFin {
			s.closing = true
		}
	}
	if s.closing {
		n.finish(s, nil)
	}
}

// deliver hands what arrived to the handler, in order, as reading allows.
// A FIN or RST with nothing unread before it is handled even while reading
// is suspended.
func (n *Network) deliver(r *stream) {
	for r.started && !r.ended && len(r.recvQ) > 0 {
		seg := r.recvQ[0]
		switch seg.kind {
		case segData:
			if !r.reading {
				return
			}
			b := seg.data
			if len(b) > r.readSize {
				seg.data = b[r.readSize:]
				b = b[:r.readSize:r.readSize]
			} else {
				r.recvQ[0] = nil
				r.recvQ = r.recvQ[1:]
			}
			n.emit(r, func(h transports.StreamHandler) { h.OnData(b) })
			n.transmit(r, &segment{kind: segAck, ack: len(b)})
		case segFin:
			r.recvQ = r.recvQ[1:]
			r.peerFin = true
			if ph, ok := r.h.(transports.PeerClosedHandler); ok && !r.wantFin && !r.closing {
				n.emit(r, func(transports.StreamHandler) { ph.OnPeerClosed() })
				continue
			}
			if !r.reasoned {
				r.reason, r.reasoned = transports.ErrPeerClosed, true
			}
			r.closing = true
			n.pump(r)
		case segRst:
			n.finish(r, fmt.Errorf("from %v: %w", r.remote, transports.ErrReset))
			return
		}
	}
}

func (h *Host) dial(ctx context.Context, remote netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
	n := h.n
	a := remote.Addr().Unmap()
	remote = netip.AddrPortFrom(a, remote.Port())
	if !a.IsValid() || remote.Port() == 0 || a.IsMulticast() || a.IsUnspecified() {
		return nil, fmt.Errorf("dial %v: %w", remote, transports.ErrInvalidAddress)
	}
	n.mu.Lock()
	dst := h.route(a)
	if dst == nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("dial %v: %w", remote, transports.ErrUnreachable)
	}
	local := opts.Local
	if !local.Addr().IsValid() || local.Addr().IsUnspecified() {
		src, ok := h.source(a)
		if !ok {
			n.mu.Unlock()
			return nil, fmt.Errorf("dial %v: no %s address: %w", remote, family(a), transports.ErrUnreachable)
		}
		local = netip.AddrPortFrom(src, local.Port())
	} else if !h.has(local.Addr().Unmap()) && !local.Addr().IsLoopback() {
		n.mu.Unlock()
		return nil, fmt.Errorf("dial %v from %v: %w", remote, local, transports.ErrAddrNotAvailable)
	}
	if local.Port() == 0 {
		local = netip.AddrPortFrom(local.Addr(), h.port())
	}
	s := n.newStream(h, dst, local, remote, opts.Stream)
	s.connecting, s.dialDone, s.dialTLS = true, make(chan error, 1), opts.TLS
	n.record(TraceEvent{Kind: "syn", Proto: "tcp", From: local, To: remote})
	n.transmit(s, &segment{kind: segSyn})
	n.after(n.cfg.ConnectTimeout, func() {
		if s.connecting {
			err := error(transports.ErrTimeout)
			if !s.heldSince.IsZero() {
				err = fmt.Errorf("%w: %w", transports.ErrTimeout, ErrPartitioned)
			}
			n.record(TraceEvent{Kind: "timeout", Proto: "tcp", From: s.local, To: s.remote})
			n.dialFail(s, err)
		}
	})
	n.mu.Unlock()

	select {
	case err := <-s.dialDone:
		return dialResult(s, remote, err)
	case <-ctx.Done():
		n.mu.Lock()
		if s.connecting {
			s.connecting, s.dead, s.localClosed = false, true, true
			s.wire = nil
			n.record(TraceEvent{Kind: "dial-failed", Proto: "tcp", From: s.local, To: s.remote, Note: "context done"})
			n.mu.Unlock()
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: %w", transports.ErrTimeout, err)
			}
			return nil, fmt.Errorf("dial %v: %w", remote, err)
		}
		n.mu.Unlock()
		return dialResult(s, remote, <-s.dialDone)
	}
}

func dialResult(s *stream, remote netip.AddrPort, err error) (transports.Stream, error) {
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", remote, err)
	}
	return s, nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (n *Network) dialFail(s *stream, err error) {
	if !s.connecting {
		return
	}
	s.connecting, s.dead, s.localClosed = false, true, true
	s.wire = nil
	n.record(TraceEvent{Kind: "dial-failed", Proto: "tcp", From: s.local, To: s.remote, Note: err.Error()})
	s.dialDone <- err
}

// failBack fails the dial of c after the reply's trip back, unless the way
// back is cut (then the dial times out).
func (n *Network) failBack(c *stream, kind string, err error) {
	from, to := c.peerHost, c.host
	n.record(TraceEvent{Kind: kind, Proto: "tcp", From: c.remote, To: c.local})
	n.after(n.delay(n.link(from, to)), func() {
		if !n.partitioned(from, to) {
			n.dialFail(c, err)
		}
	})
}

// synArrive is the handshake reaching the listening host.
func (n *Network) synArrive(c *stream) {
	if !c.connecting {
		return
	}
	dst := c.peerHost
	l := dst.findListener(c.remote)
	if l == nil {
		n.failBack(c, "refused", transports.ErrRefused)
		return
	}
	if len(l.backlog) >= backlogMax {
		// As Linux does: drop the SYN; the client times out.
		n.record(TraceEvent{Kind: "drop-backlog", Proto: "tcp", From: c.local, To: c.remote})
		return
	}
	cs, ss, cerr, serr := n.handshake(c.dialTLS, l.tls, c.remote.Addr())
	if serr != nil {
		l.acceptError(fmt.Errorf("accept from %v: %w", c.local, serr))
	}
	if cerr != nil {
		n.failBack(c, "tls-failed", cerr)
		return
	}
	srv := n.newStream(dst, c.host, c.remote, c.local, l.sopts)
	srv.peer, c.peer = c, srv
	srv.window, c.window = c.recvWindow, srv.recvWindow
	srv.tlsState, c.tlsState = ss, cs
	n.record(TraceEvent{Kind: "accept", Proto: "tcp", From: c.local, To: c.remote})
	n.transmit(srv, &segment{kind: segSynAck})
	l.backlog = append(l.backlog, srv)
	l.flush()
}

// handshake simulates TLS between a client and a server config: the
// certificate chosen by SNI, verified by the client at the simulated time,
// and ALPN as crypto/tls negotiates it.
func (n *Network) handshake(cli, srv *tls.Config, addr netip.Addr) (cs, ss *tls.ConnectionState, cerr, serr error) {
	if cli == nil && srv == nil {
		return nil, nil, nil, nil
	}
	fail := func(err error) (cs, ss *tls.ConnectionState, cerr, serr error) {
		err = fmt.Errorf("%w: %w", transports.ErrTLS, err)
		return nil, nil, err, err
	}
	if cli == nil || srv == nil {
		return fail(errors.New("only one side speaks TLS"))
	}
	hello := &tls.ClientHelloInfo{ServerName: cli.ServerName, SupportedProtos: cli.NextProtos}
	cfg := srv
	if srv.GetConfigForClient != nil {
		c2, err := srv.GetConfigForClient(hello)
		if err != nil {
			return fail(err)
		}
		if c2 != nil {
			cfg = c2
		}
	}
	var cert *tls.Certificate
	switch {
	case cfg.GetCertificate != nil:
		c, err := cfg.GetCertificate(hello)
		if err != nil {
			return fail(err)
		}
		cert = c
	case len(cfg.Certificates) > 0:
		cert = &cfg.Certificates[0]
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return fail(errors.New("server has no certificate"))
	}
	var chain []*x509.Certificate
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fail(err)
		}
		chain = append(chain, c)
	}
	proto := ""
	if len(cfg.NextProtos) > 0 && len(cli.NextProtos) > 0 {
		for _, p := range cfg.NextProtos {
			if slices.Contains(cli.NextProtos, p) {
				proto = p
				break
			}
		}
		if proto == "" {
			return fail(errors.New("no application protocol in common"))
		}
	}
	var verified [][]*x509.Certificate
	if !cli.InsecureSkipVerify {
		name := cli.ServerName
		if name == "" {
			name = addr.String()
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		v, err := chain[0].Verify(x509.VerifyOptions{
			Roots: cli.RootCAs, Intermediates: inter, DNSName: name,
			CurrentTime: n.clk.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", transports.ErrTLS, err),
				fmt.Errorf("%w: remote error: bad certificate", transports.ErrTLS)
		}
		verified = v
	}
	base := tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true,
		CipherSuite: tls.TLS_AES_128_GCM_SHA256, NegotiatedProtocol: proto, ServerName: cli.ServerName}
	c, s := base, base
	c.PeerCertificates, c.VerifiedChains = chain, verified
	return &c, &s, nil, nil
}

// listener is a simulated stream listener; fields after the first group
// are guarded by n.mu.
type listener struct {
	n     *Network
	host  *Host
	addr  netip.AddrPort
	tls   *tls.Config
	sopts transports.StreamOptions

	started, accepting, closed, ended bool
	h                                 transports.ListenerHandler
	backlog                           []*stream
}

var _ transports.Listener = (*listener)(nil)

// Listen opens a simulated stream listener; see transports.Network.
func (h *Host) Listen(local netip.AddrPort, opts transports.ListenOptions) (transports.Listener, error) {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	addr, err := h.bindable(local)
	if err != nil {
		return nil, fmt.Errorf("listen %v: %w", local, err)
	}
	l := &listener{n: n, host: h, addr: addr, tls: opts.TLS, sopts: opts.Stream, accepting: true}
	h.listen = append(h.listen, l)
	return l, nil
}

// bindable checks a local address for a listener or packet socket and
// picks its port.
func (h *Host) bindable(local netip.AddrPort) (netip.AddrPort, error) {
	a := local.Addr().Unmap()
	if !a.IsValid() {
		a = netip.IPv6Unspecified()
	}
	if a.IsMulticast() {
		return local, transports.ErrInvalidAddress
	}
	if !a.IsUnspecified() && !a.IsLoopback() && !h.has(a) {
		return local, transports.ErrAddrNotAvailable
	}
	port := local.Port()
	if port == 0 {
		port = h.port()
	}
	return netip.AddrPortFrom(a, port), nil
}

// findListener returns the listener for a stream to dst on this host.
func (h *Host) findListener(dst netip.AddrPort) *listener {
	var wild *listener
	for _, l := range h.listen {
		if l.closed || l.addr.Port() != dst.Port() {
			continue
		}
		switch la := l.addr.Addr(); {
		case la == dst.Addr():
			return l
		case la == netip.IPv6Unspecified(), la.IsUnspecified() && la.Is4() == dst.Addr().Is4():
			wild = l
		}
	}
	return wild
}

func (l *listener) Addr() netip.AddrPort { return l.addr }

func (l *listener) Start(h transports.ListenerHandler) error {
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.closed {
		return transports.ErrClosed
	}
	if l.started {
		return transports.ErrStarted
	}
	l.started, l.h = true, h
	n.after(0, l.flush)
	return nil
}

func (l *listener) SetAccepting(on bool) {
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	l.accepting = on
	if on {
		n.after(0, l.flush)
	}
}

// flush offers the backlog to the handler.
func (l *listener) flush() {
	if !l.started || l.closed || !l.accepting {
		return
	}
	h := l.h
	for _, s := range l.backlog {
		s := s
		l.n.call(func() { h.OnAccept(s) })
	}
	l.backlog = nil
}

func (l *listener) acceptError(err error) {
	if !l.started || l.ended {
		return
	}
	h := l.h
	l.n.call(func() { h.OnAcceptError(err) })
}

func (l *listener) Close() error {
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.closed {
		return transports.ErrClosed
	}
	l.closed = true
	l.host.listen = slices.DeleteFunc(l.host.listen, func(o *listener) bool { return o == l })
	n.after(0, func() {
		for _, s := range l.backlog {
			n.transmit(s, &segment{kind: segRst})
			n.finish(s, transports.ErrAborted)
		}
		l.backlog = nil
		if l.started && !l.ended {
			l.ended = true
			h := l.h
			n.call(func() { h.OnClosed(nil) })
		}
	})
	return nil
}
