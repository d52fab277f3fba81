package testutil

import (
	"net"
	"strconv"
	"testing"
)

// FreeAddr is a TCP address free on ip now, IP:PORT. A manager's cluster
// port goes in the Raft configuration, so a test picks it before the
// manager starts (port 0 would not do across a restart).
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return net.JoinHostPort(ip, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}
