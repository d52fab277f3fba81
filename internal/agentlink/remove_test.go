package agentlink_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
)

// A node removed by force loses its session, and its agent, registering
// again, is refused for good with the reason: agent.ErrRemoved, which
// makes it stop its tasks.
func TestRemovedNodeRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(nodeA)
	sess := e.register(c, nodeA)
	if err := e.d.RemoveNode(testCtx(t), nodeA, true); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Assignments(testCtx(t)); err == nil {
		// The first call may return the full set the session had ready.
		if _, err = sess.Assignments(testCtx(t)); err == nil {
			t.Fatal("the removed node's session still answers")
		}
	}
	_, err := c.Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.9"})
	if !errors.Is(err, agent.ErrRemoved) || !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "node rm") {
		t.Fatalf("register a removed node: %v, want agent.ErrRemoved naming node rm", err)
	}
	if e.store.Read().Node(nodeA) != nil {
		t.Fatal("the refused registration brought the node back")
	}
}
