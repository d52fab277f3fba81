package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// FreeAddr is a TCP address free on ip now, IP:PORT. A manager's cluster
// port goes in the Raft configuration, so a test picks it before the
// manager starts (port 0 would not do across a restart).
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	port, err := FreePort(ip)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// Ports handed out are below Linux's ephemeral range (32768–60999), which
// the kernel takes the source ports of outgoing connections and of
// listeners on port 0 from: a port picked there and freed could be given
// to some connection's source before the test's listener binds it ("address
// already in use", seen in TestPromoteWorker). Only another explicit bind
// can take one of these, and each is handed out once a process. They are
// below 30000 too, where a cluster allocates published ports itself.
const (
	freeLow  = 10000
	freeHigh = 29999
)

var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort is a TCP port free on ip now, outside the ephemeral range and
// not handed out before by this process.
func FreePort(ip string) (int, error) {
	givenMu.Lock()
	defer givenMu.Unlock()
	for range 200 {
		port := freeLow + rand.IntN(freeHigh-freeLow+1)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free TCP port on %s between %d and %d after 200 tries", ip, freeLow, freeHigh)
}
