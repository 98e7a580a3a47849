//go:build !unix

package osnet

import "net"

// rawWriter is not had on this platform: streams write from their writer
// goroutine only.
type rawWriter struct{}

// newRawWriter returns nil.
func newRawWriter(*net.TCPConn) *rawWriter { return nil }

// tryWrite is never called: newRawWriter gives no rawWriter.
func (*rawWriter) tryWrite([]byte) (int, error) { return 0, nil }
