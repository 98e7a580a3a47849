package transports

// StreamFuncs adapts functions to a StreamHandler; nil fields ignore their
// event. It suits tests and small owners; an actor usually implements
// StreamHandler itself by sending each event to its mailbox.
type StreamFuncs struct {
	Data    func(b []byte)
	Written func(n int)
	Closed  func(err error)
}

// OnData calls f.Data.
func (f StreamFuncs) OnData(b []byte) {
	if f.Data != nil {
		f.Data(b)
	}
}

// OnWritten calls f.Written.
func (f StreamFuncs) OnWritten(n int) {
	if f.Written != nil {
		f.Written(n)
	}
}

// OnClosed calls f.Closed.
func (f StreamFuncs) OnClosed(err error) {
	if f.Closed != nil {
		f.Closed(err)
	}
}

// ListenerFuncs adapts functions to a ListenerHandler; nil fields ignore
// their event, except that an ignored OnAccept closes the stream.
type ListenerFuncs struct {
	Accept      func(s Stream)
	AcceptError func(err error)
	Closed      func(err error)
}

// OnAccept calls f.Accept, or closes s when f.Accept is nil.
func (f ListenerFuncs) OnAccept(s Stream) {
	if f.Accept == nil {
		_ = s.Close()
		return
	}
	f.Accept(s)
}

// OnAcceptError calls f.AcceptError.
func (f ListenerFuncs) OnAcceptError(err error) {
	if f.AcceptError != nil {
		f.AcceptError(err)
	}
}

// OnClosed calls f.Closed.
func (f ListenerFuncs) OnClosed(err error) {
	if f.Closed != nil {
		f.Closed(err)
	}
}

// PacketFuncs adapts functions to a PacketHandler; nil fields ignore their
// event.
type PacketFuncs struct {
	Packet func(p Packet)
	Closed func(err error)
}

// OnPacket calls f.Packet.
func (f PacketFuncs) OnPacket(p Packet) {
	if f.Packet != nil {
		f.Packet(p)
	}
}

// OnClosed calls f.Closed.
func (f PacketFuncs) OnClosed(err error) {
	if f.Closed != nil {
		f.Closed(err)
	}
}
