package portmesh

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// udpBackend answers every datagram with reply(datagram), until the test
// ends, and returns its address.
func udpBackend(t *testing.T, reply func([]byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(reply(buf[:n]), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// udpNamed answers every datagram with its name.
func udpNamed(t *testing.T, name string) string {
	return udpBackend(t, func([]byte) []byte { return []byte(name) })
}

// A client that keeps sending holds its flow, but not to a task gone from
// the service (its node lost, say: no ICMP ever says so): its next
// datagram goes to a task that takes traffic.
func TestUDPFlowLeavesATaskGoneFromThePool(t *testing.T) {
	m := newMesh(t, Options{})
	p := freePort(t, "udp")
	ta := runningTask("ta", "dns", 53, "udp", udpNamed(t, "a"))
	m.Reset([]*api.Service{service("dns", api.PortConfig{TargetPort: 53, PublishedPort: p, Protocol: "udp"})}, []*api.Task{ta})
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func() string {
		t.Helper()
		c.Write([]byte("q"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return string(buf[:n])
	}
	if got := send(); got != "a" {
		t.Fatalf("first datagram answered by %q, want a", got)
	}
	tb := runningTask("tb", "dns", 53, "udp", udpNamed(t, "b"))
	m.Apply(taskEvent(tb), api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "ta"})
	for i := 0; i < 3; i++ {
		if got := send(); got != "b" {
			t.Fatalf("datagram %d after task a left the service answered by %q, want b", i, got)
		}
	}
}
