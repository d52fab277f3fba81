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
	var buf [1]byte
	var rerr error
	err := bc.raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return false
	}
	// EAGAIN: open, nothing to read. n == 0: closed. n > 0: stray bytes.
	return rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
}
