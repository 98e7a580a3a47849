package tcp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
)

// chooseProxy decides how a Connect to target ("host:port") is routed: the
// Connect's own proxy, else the actor's, else the environment's when the
// actor takes it from there. The route is reported in Connected and in
// errors, so that a proxy ignored or misread shows.
func (o Options) chooseProxy(cmd *tcpmsg.Connect, target string) (*url.URL, *tcpmsg.ProxyRoute, error) {
	parse := func(raw, source string) (*url.URL, *tcpmsg.ProxyRoute, error) {
		if strings.EqualFold(raw, "direct") {
			return nil, &tcpmsg.ProxyRoute{Source: source}, nil
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			if err == nil {
				err = fmt.Errorf("no host in %q", raw)
			}
			return nil, nil, fmt.Errorf("%w: proxy from %s: %w", messages.ErrBadCommand, source, err)
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return nil, nil, fmt.Errorf("%w: proxy from %s: scheme %q (want http, https or socks5)", messages.ErrBadCommand, source, u.Scheme)
		}
		return u, &tcpmsg.ProxyRoute{URL: u.Redacted(), Source: source}, nil
	}
	switch {
	case cmd.Options.Proxy != "":
		return parse(cmd.Options.Proxy, "Connect")
	case o.Proxy != "":
		return parse(o.Proxy, "Options")
	case !o.ProxyFromEnvironment:
		return nil, nil, nil
	}
	cfg := o.ProxyEnvironment()
	if cfg == nil || cfg.HTTPSProxy == "" {
		return nil, nil, nil // HTTP_PROXY is for plain HTTP, never for tunnels
	}
	// The connection is not HTTP, but it is what an https:// request would
	// open, so HTTPS_PROXY and NO_PROXY apply as net/http applies them.
	u, err := cfg.ProxyFunc()(&url.URL{Scheme: "https", Host: target})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: proxy from environment (HTTPS_PROXY %q): %w", messages.ErrBadCommand, cfg.HTTPSProxy, err)
	}
	if u == nil {
		return nil, &tcpmsg.ProxyRoute{Source: "environment", Bypassed: true}, nil
	}
	return parse(u.String(), "environment")
}
