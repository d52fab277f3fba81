package daemon

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/state"
)

// raftHeartbeat sends d's Raft at addr an AppendEntries of term 0 with
// the certificate of from: a stale heartbeat, which a member answers
// without any change to its state.
func raftHeartbeat(t *testing.T, from *Dev, addr string) error {
	t.Helper()
	id, _ := from.self.Identity()
	return raftHeartbeatAs(t, id, from.AgentAddr(), addr)
}

// raftHeartbeatAs is raftHeartbeat with the manager certificate id.
func raftHeartbeatAs(t *testing.T, id *ca.NodeIdentity, fromAddr, addr string) error {
	t.Helper()
	stream := cluster.NewTLSStream(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, func() (*tls.Config, error) { return cluster.RaftClientConfig(id), nil })
	stream.SetPeerCheck(func(string) error { return nil })
	tr := raft.NewNetworkTransport(stream, 1, 2*time.Second, nil)
	defer tr.Close()
	var resp raft.AppendEntriesResponse
	return tr.AppendEntries("", raft.ServerAddress(addr), &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id.ID.NodeID), Addr: []byte(fromAddr)}}, &resp)
}

// A demoted manager keeps a valid manager certificate of the cluster;
// it can no longer open a Raft stream to a manager, nor a manager one
// to it. Before, the Raft port checked the certificate alone, and
// hashicorp/raft answers AppendEntries from any peer.
func TestDemotedManagerOpensNoRaftStream(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagersWith(t, ctx, 3, 200*time.Millisecond)
	if err := raftHeartbeat(t, ds[2], ds[0].AgentAddr()); err != nil {
		t.Fatalf("a member's heartbeat before the demotion: %v", err)
	}
	c0, _ := client.New(ds[0].Host())
	if err := c0.NodeDemote(ctx, ds[2].NodeID()); err != nil {
		t.Fatalf("demote: %v", err)
	}
	for _, d := range ds[:2] {
		// A follower learns of the demotion when it applies it.
		waitStore(t, ctx, d.Manager().Store(), "the demotion applied", func(tx *state.ReadTx) bool {
			n := tx.Node(ds[2].NodeID())
			return n != nil && n.Spec.Role == api.RoleWorker
		})
		if err := raftHeartbeat(t, ds[2], d.AgentAddr()); err == nil {
			t.Fatalf("the demoted manager's certificate opened a Raft stream to %s", d.NodeID())
		}
		if c, err := d.stream.Dial(raft.ServerAddress(ds[2].AgentAddr()), 2*time.Second); err == nil || !strings.Contains(err.Error(), "not a manager") {
			if c != nil {
				c.Close()
			}
			t.Fatalf("%s dialled the demoted manager's Raft: %v", d.NodeID(), err)
		}
	}
	// The two left still write.
	if _, err := c0.SecretCreate(ctx, secretSpec("after-demote")); err != nil {
		t.Fatalf("write after the demotion: %v", err)
	}
}
