package agentlink_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
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

// A removed node's certificate stays valid until it expires, but opens
// nothing any more: its open routes stream ends, and a new request of
// any kind is refused (410).
func TestRemovedNodeCertificateRefusedEverywhere(t *testing.T) {
	e := newEnv(t)
	c := e.client(nodeA)
	e.register(c, nodeA)
	done := make(chan error, 1)
	synced := make(chan struct{}, 1)
	go func() {
		_, err := c.FollowRoutes(testCtx(t), func(agentlink.Routes) { synced <- struct{}{} }, func(...api.Event) {})
		done <- err
	}()
	<-synced
	if err := e.d.RemoveNode(testCtx(t), nodeA, true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("routes stream ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the removed node's routes stream is still open")
	}
	if code, body := e.rawAs(nodeA, http.MethodGet, "/agent/v1/routes", ""); code != http.StatusGone {
		t.Fatalf("routes with a removed node's certificate: %d %s, want 410", code, body)
	}
	if code, body := e.rawAs(nodeA, http.MethodPost, "/agent/v1/register", `{"NodeID":"`+nodeA+`","Addr":"127.0.0.1"}`); code != http.StatusGone {
		t.Fatalf("register with a removed node's certificate: %d %s, want 410", code, body)
	}
}
