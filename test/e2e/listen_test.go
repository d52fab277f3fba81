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
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			const listen = "0A"
			if len(f) < 10 || f[3] != listen || !inodes[f[9]] {
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
