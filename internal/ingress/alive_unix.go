//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ingress

import "syscall"

// alive reports whether an idle backend connection may be reused: the
// backend has neither closed it nor sent anything unasked. It peeks at
// the socket without blocking (one recv syscall), so that a connection
// the backend closed while it sat idle is not written to: a request
// written there is lost, and a non-idempotent one could not be retried.
func (bc *bconn) alive() bool {
	if bc.br.Buffered() > 0 {
		return false
	}
	if bc.raw == nil {
		return true
	}
	if bc.peek == nil {
		// Made once per connection: a closure passed to RawConn.Read
		// escapes.
		bc.peek = func(fd uintptr) bool {
			_, _, bc.peekErr = syscall.Recvfrom(int(fd), bc.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return true
		}
	}
	if err := bc.raw.Read(bc.peek); err != nil {
		return false
	}
	// EAGAIN: open, nothing to read. Otherwise closed (no error, no
	// byte), stray bytes, or an error.
	return bc.peekErr == syscall.EAGAIN || bc.peekErr == syscall.EWOULDBLOCK
}
