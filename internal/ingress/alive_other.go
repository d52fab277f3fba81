//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ingress

// alive reports whether an idle backend connection may be reused; without
// a non-blocking peek it only checks for stray buffered bytes.
func (bc *bconn) alive() bool { return bc.br.Buffered() == 0 }
