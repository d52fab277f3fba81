package cluster_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/testutil"
)

func newRoot(t *testing.T, cluster string) *ca.RootCA {
	t.Helper()
	r, err := ca.NewRootCA(cluster, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// anyPeer lets every manager of the cluster speak Raft.
func anyPeer(string) error { return nil }

// raftPort serves a Raft transport for the manager id on a loopback
// cluster port, as a manager does, its peers those check allows.
func raftPort(t *testing.T, id *ca.NodeIdentity, check cluster.PeerCheck) (cluster.Transport, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stream := cluster.NewTLSStream(ln.Addr(), func() (*tls.Config, error) { return cluster.RaftClientConfig(id), nil })
	stream.SetPeerCheck(check)
	port := cluster.NewPort(ln, cluster.PortConfig(ca.ServerConfig(id, false), func() *ca.RootCA { return id.Root }), stream, cluster.PortLimits{}, nil)
	trans := cluster.NewTLSTransport(stream, nil)
	t.Cleanup(func() {
		trans.Close()
		port.Close()
	})
	return trans, ln.Addr().String()
}

// sender is a Raft transport that dials with conf (nil: plain TCP), to
// any manager of the cluster.
func sender(t *testing.T, conf *tls.Config) raft.Transport {
	t.Helper()
	return senderChecking(t, conf, anyPeer)
}

// senderChecking is sender with the peers check allows.
func senderChecking(t *testing.T, conf *tls.Config, check cluster.PeerCheck) raft.Transport {
	t.Helper()
	tlsStream := cluster.NewTLSStream(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, func() (*tls.Config, error) { return conf, nil })
	tlsStream.SetPeerCheck(check)
	var stream raft.StreamLayer = tlsStream
	if conf == nil {
		stream = plainStream{tlsStream}
	}
	tr := raft.NewNetworkTransport(stream, 1, 2*time.Second, nil)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// plainStream dials without TLS.
type plainStream struct{ *cluster.TLSStream }

func (plainStream) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(a), timeout)
}

// forgedAppend is an AppendEntries with a higher term and a command, as
// an attacker taking over the log sends it.
func forgedAppend() *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte("intruder")},
		Term:      1 << 20, PrevLogEntry: 0, PrevLogTerm: 0, LeaderCommitIndex: 1,
		Entries: []*raft.Log{{Index: 1, Term: 1 << 20, Type: raft.LogCommand, Data: []byte(`{"Ops":[{"Kind":"create_service"}]}`)}},
	}
}

// TestRaftPortRefusesAllButManagersOfTheCluster sends a forged
// AppendEntries to a manager's Raft over its cluster port: without TLS,
// without a certificate, with a worker's certificate, with another
// cluster's manager certificate and with a manager certificate of a
// second root claiming the same cluster ID. Each is refused before Raft
// reads it; a manager of the cluster gets through (so the refusals are
// not a broken port).
func TestRaftPortRefusesAllButManagersOfTheCluster(t *testing.T) {
	root := newRoot(t, "clusterA")
	victim := testutil.Identity(t, root, "managera", ca.RoleManager)
	trans, addr := raftPort(t, victim, anyPeer)

	worker := testutil.Identity(t, root, "workerb", ca.RoleWorker)
	other := testutil.Identity(t, newRoot(t, "clusterB"), "managerc", ca.RoleManager)
	sameName := testutil.Identity(t, newRoot(t, "clusterA"), "managerd", ca.RoleManager)
	noCert := cluster.RaftClientConfig(worker)
	noCert.Certificates = nil
	// An attacker need not check who it talks to.
	skip := func(id *ca.NodeIdentity) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{id.Cert}, InsecureSkipVerify: true, NextProtos: []string{cluster.RaftProto}}
	}
	cases := []struct {
		name string
		conf *tls.Config
	}{
		{"plain TCP", nil},
		{"no certificate", noCert},
		{"worker certificate", cluster.RaftClientConfig(worker)},
		{"another cluster's manager", skip(other)},
		{"a second root with the same cluster ID", skip(sameName)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var resp raft.AppendEntriesResponse
			err := sender(t, c.conf).AppendEntries("managera", raft.ServerAddress(addr), forgedAppend(), &resp)
			if err == nil {
				t.Fatalf("forged AppendEntries was answered: %+v", resp)
			}
			select {
			case rpc := <-trans.Consumer():
				t.Fatalf("Raft received the forged RPC %T", rpc.Command)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}

	t.Run("manager of the cluster", func(t *testing.T) {
		peer := testutil.Identity(t, root, "managere", ca.RoleManager)
		done := make(chan error, 1)
		go func() {
			var resp raft.AppendEntriesResponse
			done <- sender(t, cluster.RaftClientConfig(peer)).AppendEntries("managera", raft.ServerAddress(addr), forgedAppend(), &resp)
		}()
		select {
		case rpc := <-trans.Consumer():
			if _, ok := rpc.Command.(*raft.AppendEntriesRequest); !ok {
				t.Fatalf("got %T", rpc.Command)
			}
			rpc.Respond(&raft.AppendEntriesResponse{Term: 1}, nil)
		case <-time.After(testTimeout):
			t.Fatal("a manager's AppendEntries never reached Raft")
		}
		if err := <-done; err != nil {
			t.Fatalf("AppendEntries: %v", err)
		}
	})
}

// peers is a PeerCheck whose allowed nodes a test changes.
type peers struct {
	mu sync.Mutex
	ok map[string]bool
}

func allow(ids ...string) *peers {
	p := &peers{ok: map[string]bool{}}
	for _, id := range ids {
		p.ok[id] = true
	}
	return p
}

func (p *peers) set(id string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ok[id] = ok
}

func (p *peers) check(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ok[id] {
		return fmt.Errorf("node %s is not a manager", id)
	}
	return nil
}

// received waits for an RPC on trans and answers it; false when none
// came within wait.
func received(t *testing.T, trans cluster.Transport, wait time.Duration) bool {
	t.Helper()
	select {
	case rpc := <-trans.Consumer():
		rpc.Respond(&raft.AppendEntriesResponse{Term: 1}, nil)
		return true
	case <-time.After(wait):
		return false
	}
}

// appendAsync sends a forged AppendEntries from tr in the background.
func appendAsync(tr raft.Transport, addr string) <-chan error {
	done := make(chan error, 1)
	go func() {
		var resp raft.AppendEntriesResponse
		done <- tr.AppendEntries("managera", raft.ServerAddress(addr), forgedAppend(), &resp)
	}()
	return done
}

// TestRaftStreamTakesOnlyPeersItsCheckAllows: a manager certificate of
// the cluster (a demoted manager's, still valid) opens no Raft stream
// unless the peer check allows its node, either way; a peer revoked
// while connected gets no RPC more through the connection it holds.
func TestRaftStreamTakesOnlyPeersItsCheckAllows(t *testing.T) {
	root := newRoot(t, "clusterA")
	victim := testutil.Identity(t, root, "managera", ca.RoleManager)
	demoted := testutil.Identity(t, root, "managerb", ca.RoleManager)
	member := testutil.Identity(t, root, "managerc", ca.RoleManager)
	victimPeers := allow("managerc")
	trans, addr := raftPort(t, victim, victimPeers.check)

	t.Run("accepting", func(t *testing.T) {
		var resp raft.AppendEntriesResponse
		if err := sender(t, cluster.RaftClientConfig(demoted)).AppendEntries("managera", raft.ServerAddress(addr), forgedAppend(), &resp); err == nil {
			t.Fatalf("the demoted manager's AppendEntries was answered: %+v", resp)
		}
		if received(t, trans, 300*time.Millisecond) {
			t.Fatal("Raft received the demoted manager's RPC")
		}
	})

	t.Run("dialling", func(t *testing.T) {
		// The demoted manager's port answers; the victim's stream must
		// not talk Raft to it.
		_, demotedAddr := raftPort(t, demoted, anyPeer)
		var resp raft.AppendEntriesResponse
		err := senderChecking(t, cluster.RaftClientConfig(victim), victimPeers.check).AppendEntries("managerb", raft.ServerAddress(demotedAddr), forgedAppend(), &resp)
		if err == nil || !strings.Contains(err.Error(), "managerb is not a manager") {
			t.Fatalf("dial of the demoted manager: %v, want a refusal naming it", err)
		}
	})

	t.Run("revoked while connected", func(t *testing.T) {
		tr := sender(t, cluster.RaftClientConfig(member))
		done := appendAsync(tr, addr)
		if !received(t, trans, testTimeout) {
			t.Fatal("a member's AppendEntries never reached Raft")
		}
		if err := <-done; err != nil {
			t.Fatalf("AppendEntries: %v", err)
		}
		victimPeers.set("managerc", false)
		// The transport sends on the connection it pooled.
		done = appendAsync(tr, addr)
		if received(t, trans, 300*time.Millisecond) {
			t.Fatal("Raft received an RPC of a peer revoked while connected")
		}
		if err := <-done; err == nil {
			t.Fatal("the revoked peer's AppendEntries was answered")
		}
	})
}
