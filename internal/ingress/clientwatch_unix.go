//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ingress

import (
	"errors"
	"syscall"
	"time"
)

// watchClient starts watching the client connection while the backend
// prepares its response (see awaitResponse): when the client closes its
// connection (or resets it), the backend connection's read is ended at
// once, so the request is abandoned there too, as net/http's server
// cancels the request context from its background read. It peeks
// (MSG_PEEK) and consumes nothing: a pipelined request that arrives ends
// the watch, and stays buffered in the socket for the next round. The
// watch is stopped by the returned function, which reports whether the
// client went away; false when the connection cannot be watched.
func (c *fconn) watchClient(bc *bconn) (stop func() bool, ok bool) {
	// Over TLS the socket under it is watched: any record (a pipelined
	// request, or the client's close_notify) ends the watch as a byte
	// would, and only a FIN or reset counts as gone.
	conn := c.c
	if c.raw != nil {
		conn = c.raw
	}
	sc, isSys := conn.(syscall.Conn)
	if !isSys {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	done := make(chan bool, 1)
	go func() {
		gone := false
		var buf [1]byte
		err := raw.Read(func(fd uintptr) bool {
			for {
				n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				switch {
				case errors.Is(err, syscall.EINTR):
					continue
				case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
					return false // nothing yet: wait until readable
				}
				// No byte and no error is the client's FIN; an error
				// (ECONNRESET) a reset. A byte is a pipelined request.
				gone = n == 0 || err != nil
				return true
			}
		})
		if err == nil && gone {
			_ = bc.c.SetReadDeadline(aLongTimeAgo)
		}
		done <- err == nil && gone
	}()
	return func() bool {
		// Ends a watch still waiting: the deadline wakes it.
		_ = c.c.SetReadDeadline(aLongTimeAgo)
		gone := <-done
		_ = c.c.SetReadDeadline(time.Time{})
		return gone
	}, true
}
