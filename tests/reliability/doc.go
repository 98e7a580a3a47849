// Package reliability holds microstack's fault, hostile-input and security
// tests on real loopback sockets: the TCP echo service's listener and
// connections crashed repeatedly under load (with the unavailability
// measured and acknowledged data checked), slow and hostile clients,
// resource baselines after many cycles, and the secure defaults (console
// token, loopback binds, TLS verification and pinning, static files kept in
// their folder, exec off, discovery keys).
//
// Long variants run with MICROSTACK_RELIABILITY_LONG=1.
package reliability
