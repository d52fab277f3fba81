package cluster_test

import (
	"crypto/tls"
	"net"
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

// raftPort serves a Raft transport for the manager id on a loopback
// cluster port, as a manager does.
func raftPort(t *testing.T, id *ca.NodeIdentity) (cluster.Transport, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stream := cluster.NewTLSStream(ln.Addr(), func() (*tls.Config, error) { return cluster.RaftClientConfig(id), nil })
	port := cluster.NewPort(ln, cluster.PortConfig(ca.ServerConfig(id, false), id.Root), stream, nil)
	trans := cluster.NewTLSTransport(stream, nil)
	t.Cleanup(func() {
		trans.Close()
		port.Close()
	})
	return trans, ln.Addr().String()
}

// sender is a Raft transport that dials with conf (nil: plain TCP).
func sender(t *testing.T, conf *tls.Config) raft.Transport {
	t.Helper()
	tlsStream := cluster.NewTLSStream(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, func() (*tls.Config, error) { return conf, nil })
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
	trans, addr := raftPort(t, victim)

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
