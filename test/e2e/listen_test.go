package e2e

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestDevListensOnlyWhereAsked checks what a `shoal dev` process listens on
// over TCP: its ingress and, when asked, its agent port; nothing else, and
// nothing that takes a Raft RPC (a forged AppendEntries on the old Raft
// port could write any command into the log).
func TestDevListensOnlyWhereAsked(t *testing.T) {
	t.Run("ingress and agents", func(t *testing.T) {
		dir := t.TempDir()
		p, lines := startNodeProc(t, "shoal dev", dir, "try:", "dev", "--data-dir", dir, "--log-level", "error",
			"--ingress", "127.0.0.1:0", "--listen-agents", "127.0.0.1:0", "--docker=false")
		defer p.signal(syscall.SIGTERM)
		u, err := url.Parse(strings.Fields(field(t, lines, "ingress"))[0])
		if err != nil {
			t.Fatal(err)
		}
		join := strings.Fields(field(t, lines, "agents join"))
		i := slices.Index(join, "--manager")
		if i < 0 || i+1 >= len(join) {
			t.Fatalf("no --manager ADDR in the join command %q", join)
		}
		agents := join[i+1]
		token, ok := strings.CutPrefix(join[0], "SHOAL_JOIN_TOKEN=")
		if !ok {
			t.Fatalf("no SHOAL_JOIN_TOKEN=T in the join command %q", join)
		}
		want := []string{u.Host, agents}
		got := listeningTCP(t, p.cmd.Process.Pid)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("shoal dev listens on TCP %v, want only the ingress and agent ports %v", got, want)
		}
		for _, addr := range got {
			if err := sendAppendEntries(addr); err == nil {
				t.Errorf("%s accepted a Raft AppendEntries", addr)
			}
		}
		if udp := boundUDP(t, p.cmd.Process.Pid); len(udp) != 0 {
			t.Errorf("shoal dev has UDP sockets %v, want none", udp)
		}

		// A worker listens only on its ingress: it has no Raft at all.
		adir := t.TempDir()
		a, alines := startNodeProc(t, "shoal agent", adir, "ingress:", "agent", "--manager", agents, "--token", token,
			"--addr", "127.0.0.2", "--data-dir", adir, "--ingress", "127.0.0.2:0", "--docker=false", "--log-level", "error")
		defer a.signal(syscall.SIGTERM)
		au, err := url.Parse(strings.Fields(field(t, alines, "ingress"))[0])
		if err != nil {
			t.Fatal(err)
		}
		if got := listeningTCP(t, a.cmd.Process.Pid); !slices.Equal(got, []string{au.Host}) {
			t.Errorf("shoal agent listens on TCP %v, want only its ingress %s", got, au.Host)
		}
		if udp := boundUDP(t, a.cmd.Process.Pid); len(udp) != 0 {
			t.Errorf("shoal agent has UDP sockets %v, want none", udp)
		}
	})
	t.Run("no ingress, no agents", func(t *testing.T) {
		dir := t.TempDir()
		p, _ := startNodeProc(t, "shoal dev", dir, "try:", "dev", "--data-dir", dir, "--log-level", "error",
			"--ingress", "off", "--docker=false")
		defer p.signal(syscall.SIGTERM)
		if got := listeningTCP(t, p.cmd.Process.Pid); len(got) != 0 {
			t.Errorf("shoal dev listens on TCP %v, want nothing", got)
		}
	})
}

// TestRaftProbeReachesARaftListener shows that sendAppendEntries, which the
// test above expects to fail, succeeds against a Raft TCP transport.
func TestRaftProbeReachesARaftListener(t *testing.T) {
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case rpc := <-trans.Consumer():
				rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
			case <-done:
				return
			}
		}
	}()
	if err := sendAppendEntries(string(trans.LocalAddr())); err != nil {
		t.Fatalf("AppendEntries to a Raft listener: %v", err)
	}
}

// sendAppendEntries sends addr a Raft AppendEntries, as a forged leader of
// a much later term, and returns nil when a Raft answer comes back.
func sendAppendEntries(addr string) error {
	trans := raft.NewNetworkTransport(dialOnly{}, 1, 3*time.Second, io.Discard)
	defer trans.Close()
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("attacker"), Addr: []byte("127.0.0.1:1")},
		Term:      1 << 40,
	}
	var resp raft.AppendEntriesResponse
	return trans.AppendEntries("target", raft.ServerAddress(addr), req, &resp)
}

// dialOnly is a raft.StreamLayer that dials and never accepts.
type dialOnly struct{}

func (dialOnly) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}
func (dialOnly) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (dialOnly) Close() error              { return nil }
func (dialOnly) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// listeningTCP returns the addresses (host:port, sorted) of the TCP
// sockets in LISTEN state that process pid has open: the sockets of
// /proc/PID/net/tcp and tcp6 whose inode is one of its open files.
func listeningTCP(t *testing.T, pid int) []string {
	t.Helper()
	const listen = "0A"
	return procSockets(t, pid, "tcp", func(state, _ string) bool { return state == listen })
}

// boundUDP returns the addresses of the UDP sockets process pid has open
// that take datagrams from anyone: those with no remote address (a
// resolver's connected socket has one).
func boundUDP(t *testing.T, pid int) []string {
	t.Helper()
	return procSockets(t, pid, "udp", func(_, remote string) bool {
		ip, port, _ := strings.Cut(remote, ":")
		return strings.Trim(ip, "0") == "" && strings.Trim(port, "0") == ""
	})
}

// procSockets returns the local addresses (sorted) of the sockets of
// /proc/PID/net/PROTO and PROTO6 that are open files of process pid and
// for whose state and remote address keep holds.
func procSockets(t *testing.T, pid int, proto string, keep func(state, remote string) bool) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{proto, proto + "6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !keep(f[3], f[2]) || !inodes[f[9]] {
				continue
			}
			out = append(out, procAddr(t, f[1]))
		}
	}
	slices.Sort(out)
	return out
}

// procAddr decodes an address of /proc/net/tcp: the IP in hex, in the
// host's byte order per 32-bit word, then the port in hex.
func procAddr(t *testing.T, s string) string {
	t.Helper()
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if err != nil || perr != nil || len(raw)%4 != 0 {
		t.Fatalf("bad /proc/net/tcp address %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}
