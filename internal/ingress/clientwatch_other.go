//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ingress

// watchClient needs a non-blocking peek: elsewhere the client's leaving
// is noticed when the response is written, and the backend's wait is
// bounded by the response-header timeout.
func (c *fconn) watchClient(*bconn) (stop func() bool, ok bool) { return nil, false }
