package webrtc

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"
)

// Options configures a peer connection actor. The zero value makes a peer
// with no ICE servers (host candidates only), pion's ICE timeouts, no
// loopback candidates and mDNS off, whose events go to its parent.
type Options struct {
	// Handler receives the peer's events (LocalCandidate,
	// GatheringComplete, ConnectionStateChanged, DataChannelOpened for the
	// remote side's channels, messages.Closed) and, until they are
	// registered elsewhere, the events of the remote side's channels.
	// Default: the actor's parent. A messages.Register changes it.
	Handler *actor.PID
	// ICEServers are the STUN and TURN servers ICE gathers server-reflexive
	// and relay candidates from.
	ICEServers []ICEServer
	// RelayOnly gathers and uses relay candidates only (W3C
	// iceTransportPolicy "relay"): every byte goes through a TURN server.
	RelayOnly bool
	// ICEDisconnectedTimeout, ICEFailedTimeout and ICEKeepAlive are the
	// ICE agent's timers: how long without traffic before the connection
	// is disconnected, how much longer before it has failed, and how often
	// a keep-alive is sent. Defaults 5 s, 25 s and 2 s (pion's). A peer
	// whose connection has failed (there is no ICE restart here) reports
	// messages.Closed with messages.ErrorClosed and stops, as one closed
	// by its remote reports PeerClosed.
	ICEDisconnectedTimeout, ICEFailedTimeout, ICEKeepAlive time.Duration
	// IncludeLoopback gathers candidates on loopback addresses, which ICE
	// leaves out by default. Needed for peers on one host talking over
	// 127.0.0.1 or ::1.
	IncludeLoopback bool
	// LoopbackOnly restricts ICE to loopback interfaces and addresses
	// (and implies IncludeLoopback), so that nothing is sent on another
	// interface: for tests and for peers that only ever talk on the host.
	LoopbackOnly bool
	// MDNS is how host candidates use multicast DNS. Default MDNSDisabled:
	// candidates carry IP addresses and ".local" names are not resolved.
	MDNS MDNSMode
	// NetworkTypes restricts the candidate network types (UDP4, UDP6, TCP4,
	// TCP6). Empty means pion's default: all of them.
	NetworkTypes []pion.NetworkType
	// MaxMessageSize is the largest message this peer accepts, advertised
	// to the remote in a=max-message-size. Default 256 KiB, as Chromium's.
	MaxMessageSize int
	// HighWater and LowWater are a data channel's back-pressure marks: a
	// Send that would push the channel's buffered amount past HighWater is
	// refused, and writing resumes once it drains to LowWater. Defaults
	// 1 MiB and 256 KiB. Every Send a writer has in flight when writing is
	// suspended comes back refused, to be sent again: a writer that
	// pipelines does best with no more than about (HighWater-LowWater)/2
	// bytes of Sends unacknowledged (24 of 16 KiB by default), where 128
	// of 16 KiB draw 2.4 refusals per message delivered.
	HighWater, LowWater int
	// Settings, when set, gets the setting engine the peer built and may
	// change it: the last word on pion's tuning. The peer's own choices
	// (detached data channels, message size) should be left as they are.
	Settings func(*pion.SettingEngine)
	// Logger receives the actor's logs and pion's warnings and errors.
	// Default: discarded.
	Logger *slog.Logger
}

// ICEServer is a STUN or TURN server (W3C RTCIceServer).
type ICEServer struct {
	// URLs are the server's URLs: "stun:host:port",
	// "turn:host:port?transport=udp", "turn:host:port?transport=tcp",
	// "turns:host:port".
	URLs []string
	// Username and Credential are a TURN server's long-term credentials.
	Username, Credential string
}

// MDNSMode says how ICE uses multicast DNS for host candidates.
type MDNSMode int

const (
	// MDNSDisabled neither hides local addresses behind ".local" names
	// nor resolves the remote's.
	MDNSDisabled MDNSMode = iota
	// MDNSQueryOnly resolves the remote's ".local" candidates but gathers
	// plain addresses.
	MDNSQueryOnly
	// MDNSQueryAndGather hides local addresses behind ".local" names, as
	// browsers do, and resolves the remote's.
	MDNSQueryAndGather
)

const (
	defaultMaxMessageSize = 256 << 10
	defaultHighWater      = 1 << 20
	defaultLowWater       = 256 << 10
)

func (o Options) withDefaults() Options {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	if o.HighWater <= 0 {
		o.HighWater = defaultHighWater
	}
	if o.LowWater <= 0 || o.LowWater > o.HighWater {
		o.LowWater = min(defaultLowWater, o.HighWater/4)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// api builds the pion API a peer's connection is made with.
func (o Options) api() *pion.API {
	var s pion.SettingEngine
	// Detached channels are read by a goroutine the channel actor owns:
	// nothing is read before the actor is ready for it, so no message is
	// lost between the channel opening and the actor starting.
	s.DetachDataChannels()
	s.SetSCTPMaxMessageSize(uint32(o.MaxMessageSize))
	s.LoggerFactory = slogFactory{o.Logger}
	if o.ICEDisconnectedTimeout > 0 || o.ICEFailedTimeout > 0 || o.ICEKeepAlive > 0 {
		s.SetICETimeouts(orDefault(o.ICEDisconnectedTimeout, 5*time.Second),
			orDefault(o.ICEFailedTimeout, 25*time.Second), orDefault(o.ICEKeepAlive, 2*time.Second))
	}
	switch o.MDNS {
	case MDNSQueryOnly:
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	case MDNSQueryAndGather:
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
	default:
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if o.IncludeLoopback || o.LoopbackOnly {
		s.SetIncludeLoopbackCandidate(true)
	}
	if o.LoopbackOnly {
		s.SetInterfaceFilter(func(name string) bool {
			ifi, err := net.InterfaceByName(name)
			return err == nil && ifi.Flags&net.FlagLoopback != 0
		})
		s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if len(o.NetworkTypes) > 0 {
		s.SetNetworkTypes(o.NetworkTypes)
	}
	if o.Settings != nil {
		o.Settings(&s)
	}
	return pion.NewAPI(pion.WithSettingEngine(s))
}

func (o Options) configuration() pion.Configuration {
	c := pion.Configuration{}
	for _, srv := range o.ICEServers {
		c.ICEServers = append(c.ICEServers, pion.ICEServer{
			URLs: srv.URLs, Username: srv.Username, Credential: srv.Credential,
		})
	}
	if o.RelayOnly {
		c.ICETransportPolicy = pion.ICETransportPolicyRelay
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// slogFactory sends pion's warnings and errors to the peer's logger.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Trace(string)                 {}
func (l slogLogger) Tracef(string, ...any)        {}
func (l slogLogger) Debug(string)                 {}
func (l slogLogger) Debugf(string, ...any)        {}
func (l slogLogger) Info(msg string)              { l.log.Debug(msg) }
func (l slogLogger) Infof(f string, args ...any)  { l.log.Debug(fmt.Sprintf(f, args...)) }
func (l slogLogger) Warn(msg string)              { l.log.Warn(msg) }
func (l slogLogger) Warnf(f string, args ...any)  { l.log.Warn(fmt.Sprintf(f, args...)) }
func (l slogLogger) Error(msg string)             { l.log.Error(msg) }
func (l slogLogger) Errorf(f string, args ...any) { l.log.Error(fmt.Sprintf(f, args...)) }
