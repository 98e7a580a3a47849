package webrtc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/datachannel"
	"github.com/pion/sctp"
	pion "github.com/pion/webrtc/v4"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
)

const (
	// firstReadSize is a channel reader's first buffer; it doubles, up to
	// the peer's MaxMessageSize, when a message does not fit.
	firstReadSize = 32 << 10
	// closeWait bounds how long a Close waits for the remote to reset its
	// side of the stream.
	closeWait = 5 * time.Second
)

// channel is the actor of one data channel, a child of its peer.
type channel struct {
	dc      *pion.DataChannel
	pc      *pion.PeerConnection
	handler *actor.PID
	remote  bool
	opts    Options

	log   *slog.Logger
	stats *inspect.Entry
	self  *actor.PID

	rwc        datachannel.ReadWriteCloserDeadliner
	readerDone chan struct{}
	maxSend    int

	suspended bool         // a Send was refused; refuse all until resumed
	resumers  []*actor.PID // asked ResumeWriting, told WritingResumed
	closing   bool         // our Close is in progress
	reported  bool         // messages.Closed was sent
}

// Messages from pion's callbacks and the channel's reader.
type (
	channelOpened struct{}
	channelEnded  struct{}
	received      struct {
		data []byte
		text bool
	}
	readEnded struct{ err error }
	lowWater  struct{}
)

// Receive is the table of contents of the data channel actor.
func (c *channel) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		c.release(ctx)
	case *actor.Stopped:
	case channelOpened:
		c.opened(ctx)
	case *rtcmsg.Send:
		c.send(ctx, m)
	case received:
		c.received(ctx, m)
	case *rtcmsg.ResumeWriting:
		c.resumeWriting(ctx)
	case lowWater:
		c.resume(ctx)
	case *rtcmsg.Close:
		c.close(ctx)
	case readEnded:
		c.ended(ctx, m.err)
	case channelEnded:
		c.ended(ctx, io.EOF)
	case *messages.Register:
		c.handler = m.Handler
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("webrtc: channel: %T: %w", m, messages.ErrUnknownCommand)})
		}
	}
}

func (c *channel) start(ctx actor.Context) {
	c.self = ctx.Self()
	c.stats = inspect.Of(ctx)
	c.log = c.opts.Logger.With("actor", c.self.Id, "kind", ChannelKind, "label", c.dc.Label())
	root, self := ctx.ActorSystem().Root, c.self
	// OnOpen fires at once when the channel is already open, so nothing
	// is missed between the peer spawning this actor and now.
	c.dc.OnOpen(func() { root.Send(self, channelOpened{}) })
	c.dc.OnClose(func() { root.Send(self, channelEnded{}) })
}

// opened detaches the channel and starts its reader.
func (c *channel) opened(ctx actor.Context) {
	if c.rwc != nil || c.reported {
		return
	}
	rwc, err := c.dc.DetachWithDeadline()
	if err != nil {
		c.report(ctx, &messages.Closed{Reason: messages.ErrorClosed, Err: fmt.Errorf("webrtc: detach: %w", err)})
		ctx.Stop(c.self)
		return
	}
	c.rwc = rwc
	c.maxSend = int(c.pc.SCTP().GetCapabilities().MaxMessageSize)
	root, self := ctx.ActorSystem().Root, c.self
	c.dc.SetBufferedAmountLowThreshold(uint64(c.opts.LowWater))
	c.dc.OnBufferedAmountLow(func() { root.Send(self, lowWater{}) })
	c.readerDone = make(chan struct{})
	go read(rwc, c.opts.MaxMessageSize, root, self, c.readerDone)

	opened := &rtcmsg.DataChannelOpened{
		Label: c.dc.Label(), Protocol: c.dc.Protocol(), Channel: c.self,
		Ordered: c.dc.Ordered(), MaxRetransmits: c.dc.MaxRetransmits(),
		MaxPacketLifeTime: c.dc.MaxPacketLifeTime(), Remote: c.remote, MaxMessageSize: c.maxSend,
	}
	if id := c.dc.ID(); id != nil {
		opened.ID = *id
	}
	c.tell(ctx, opened)
}

// read is the channel's reader goroutine: it delivers each message to the
// actor and ends with readEnded.
func read(rwc datachannel.ReadWriteCloser, maxSize int, root *actor.RootContext, self *actor.PID, done chan struct{}) {
	defer close(done)
	buf := make([]byte, min(firstReadSize, maxSize))
	for {
		n, text, err := rwc.ReadDataChannel(buf)
		if errors.Is(err, io.ErrShortBuffer) && len(buf) < maxSize {
			buf = make([]byte, min(2*len(buf), maxSize))
			continue
		}
		if err != nil {
			root.Send(self, readEnded{err})
			return
		}
		data := make([]byte, n)
		copy(data, buf[:n])
		root.Send(self, received{data: data, text: text})
	}
}

func (c *channel) received(ctx actor.Context, m received) {
	c.stats.Add("messages_in", 1)
	c.stats.Add("bytes_in", int64(len(m.data)))
	if c.handler != nil {
		ctx.Send(c.handler, &rtcmsg.Message{Channel: c.self, Data: m.data, Text: m.text})
	}
}

// send hands a message to SCTP, unless it is too large for the
// association or would push the buffered amount past the high-water mark.
func (c *channel) send(ctx actor.Context, m *rtcmsg.Send) {
	to := ctx.Sender()
	if to == nil {
		to = c.handler
	}
	if c.rwc == nil || c.closing || c.reported {
		c.fail(ctx, to, m, fmt.Errorf("webrtc: channel %q: %w", c.dc.Label(), messages.ErrNotConnected))
		return
	}
	if c.maxSend > 0 && len(m.Data) > c.maxSend {
		c.fail(ctx, to, m, fmt.Errorf("%w: %d bytes, limit %d", rtcmsg.ErrMessageTooLarge, len(m.Data), c.maxSend))
		return
	}
	buffered := int(c.dc.BufferedAmount())
	if c.suspended || buffered > 0 && buffered+len(m.Data) > c.opts.HighWater {
		c.refuse(ctx, to, m, buffered)
		return
	}
	if _, err := c.rwc.WriteDataChannel(m.Data, m.Text); err != nil {
		if errors.Is(err, sctp.ErrOutboundPacketTooLarge) {
			err = fmt.Errorf("%w: %w", rtcmsg.ErrMessageTooLarge, err)
		} else {
			err = fmt.Errorf("webrtc: channel %q: %w: %w", c.dc.Label(), messages.ErrNotConnected, err)
		}
		c.fail(ctx, to, m, err)
		return
	}
	c.stats.Add("messages_out", 1)
	c.stats.Add("bytes_out", int64(len(m.Data)))
	if m.Ack != nil && to != nil {
		ctx.Send(to, &messages.WriteAck{Ack: m.Ack})
	}
}

// refuse answers a Send that does not fit, and suspends writing: every
// later Send is refused too, until the writer asks ResumeWriting, so that
// a writer that pipelines never sees a later Send accepted before an
// earlier refused one.
func (c *channel) refuse(ctx actor.Context, to *actor.PID, m *rtcmsg.Send, buffered int) {
	c.stats.Add("refused", 1)
	c.suspended = true
	if to != nil {
		ctx.Send(to, &messages.WriteRefused{Cmd: m, Buffered: buffered})
	}
}

// resumeWriting answers WritingResumed once the buffer has drained to the
// low-water mark, at once when it already has.
func (c *channel) resumeWriting(ctx actor.Context) {
	to := ctx.Sender()
	if to == nil {
		to = c.handler
	}
	if to != nil {
		c.resumers = append(c.resumers, to)
	}
	if !c.suspended || c.rwc == nil || int(c.dc.BufferedAmount()) <= c.opts.LowWater {
		c.resume(ctx)
	}
}

// resume ends a suspension and tells the writers that asked.
func (c *channel) resume(ctx actor.Context) {
	if len(c.resumers) == 0 {
		return // nobody asked yet; ResumeWriting checks the buffer itself
	}
	c.suspended = false
	for _, pid := range c.resumers {
		ctx.Send(pid, &messages.WritingResumed{})
	}
	c.resumers = c.resumers[:0]
}

// close resets the channel's stream; the reader ends once the remote has
// reset its side too, or after closeWait.
func (c *channel) close(ctx actor.Context) {
	if c.closing || c.reported {
		return
	}
	c.closing = true
	if c.rwc == nil {
		_ = c.dc.Close()
		c.report(ctx, &messages.Closed{Reason: messages.ClosedByUs})
		ctx.Stop(c.self)
		return
	}
	_ = c.rwc.Close()
	_ = c.rwc.SetReadDeadline(time.Now().Add(closeWait))
}

// ended handles the end of the stream: the reader's error or pion's close.
func (c *channel) ended(ctx actor.Context, err error) {
	if c.reported {
		return
	}
	switch {
	case c.closing:
		c.report(ctx, &messages.Closed{Reason: messages.ClosedByUs})
	case errors.Is(err, io.EOF):
		c.report(ctx, &messages.Closed{Reason: messages.PeerClosed})
	default:
		c.report(ctx, &messages.Closed{Reason: messages.ErrorClosed, Err: err})
	}
	ctx.Stop(c.self)
}

// release closes the stream and waits for the reader: a channel stopped by
// its peer or supervisor leaves no goroutine behind.
func (c *channel) release(ctx actor.Context) {
	if c.rwc != nil {
		_ = c.rwc.Close()
		_ = c.rwc.SetReadDeadline(time.Now())
		<-c.readerDone
	}
	if !c.reported {
		c.report(ctx, &messages.Closed{Reason: messages.SupervisorStopped})
	}
}

// report sends the channel's one Closed event, with the channel as sender.
func (c *channel) report(ctx actor.Context, closed *messages.Closed) {
	c.reported = true
	c.tell(ctx, closed)
}

// tell sends an event to the handler with the channel as sender, so a
// handler of many channels knows which one it is about.
func (c *channel) tell(ctx actor.Context, msg any) {
	if c.handler != nil {
		ctx.Request(c.handler, msg)
	}
}

func (c *channel) fail(ctx actor.Context, to *actor.PID, cmd any, err error) {
	c.stats.Add("failures", 1)
	if to != nil {
		ctx.Send(to, &messages.CommandFailed{Cmd: cmd, Err: err})
	}
}
