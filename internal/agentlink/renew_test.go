package agentlink_test

import (
	"errors"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

// identAs issues a certificate of role for node.
func (e *env) identAs(node string, role ca.Role) *ca.NodeIdentity {
	return testutil.Identity(e.t, e.root, node, role)
}

// A node renews its own certificate and only its own: the new one names
// the node of the certificate it called with, for a new key, and the role
// is the one the cluster records, whatever the old certificate said (a
// demoted manager renews as a worker, a promoted worker as a manager);
// the client presents the new one from then on. A removed node is
// refused.
func TestRenewKeepsWhoTheNodeIs(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	demoted, manager, removed, promoted := api.NewID(), api.NewID(), api.NewID(), api.NewID()
	e.must(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: demoted, Spec: api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive}}},
		state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: manager, Spec: api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityActive}}},
		state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: removed, Spec: api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive}}},
		state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: promoted, Spec: api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityActive}}})
	for _, c := range []struct {
		name string
		id   *ca.NodeIdentity
		want ca.Role
	}{
		{"a worker", e.ident(nodeA), ca.RoleWorker},
		{"a demoted manager", e.identAs(demoted, ca.RoleManager), ca.RoleWorker},
		{"a manager", e.identAs(manager, ca.RoleManager), ca.RoleManager},
		{"a worker the cluster records as a manager (promoted)", e.identAs(promoted, ca.RoleWorker), ca.RoleManager},
	} {
		cl := e.clientWith(c.id, "127.0.0.9")
		next, certPEM, keyPEM, err := cl.Renew(ctx, c.id)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if next.ID.NodeID != c.id.ID.NodeID || next.ID.Role != c.want || len(certPEM) == 0 || len(keyPEM) == 0 {
			t.Errorf("%s: renewed as node %s role %s, want %s %s", c.name, next.ID.NodeID, next.ID.Role, c.id.ID.NodeID, c.want)
		}
		if next.Cert.Leaf.Equal(c.id.Cert.Leaf) || string(next.Cert.Leaf.RawSubjectPublicKeyInfo) == string(c.id.Cert.Leaf.RawSubjectPublicKeyInfo) {
			t.Errorf("%s: the same certificate or key", c.name)
		}
		// The client goes on with the new certificate.
		cl.SetIdentity(next)
		again, _, _, err := cl.Renew(ctx, next)
		if err != nil || again.ID.NodeID != c.id.ID.NodeID {
			t.Errorf("%s: renewal with the renewed certificate: %v", c.name, err)
		}
	}
	e.must(state.Op{Kind: state.OpRemoveNode, ID: removed})
	gone := e.identAs(removed, ca.RoleWorker)
	if _, _, _, err := e.clientWith(gone, "127.0.0.9").Renew(ctx, gone); !errors.Is(err, agent.ErrRemoved) {
		t.Errorf("a removed node renews: %v, want ErrRemoved", err)
	}
	// Without a certificate there is nothing to renew.
	if code, _ := e.rawAs("", "POST", "/agent/v1/renew", `{"CSR":""}`); code != 401 {
		t.Errorf("renew without a certificate: %d, want 401", code)
	}
}
