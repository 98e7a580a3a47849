package evloop

// NewWaiting returns a Network of loops loops that block their threads in
// epoll_wait (block) or park in Go's poller, whatever GOMAXPROCS is: the
// tests cover both ways of waiting on any machine.
func NewWaiting(opts Options, loops int, block bool) *Network {
	return newNetwork(opts, loops, block)
}
