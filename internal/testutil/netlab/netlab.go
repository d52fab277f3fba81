// Package netlab is internal/netlab for tests: New skips without root
// (fails under SHOAL_REQUIRE_DOCKER=1), the test's cleanup closes the
// lab, and AddNode fails the test on an error. Cleanups run
// last-registered first, so a process started in a node after New and
// stopped in its own cleanup is stopped before the lab goes.
package netlab

import (
	"testing"

	"github.com/shoalproject/shoal/internal/netlab"
	"github.com/shoalproject/shoal/internal/testutil"
)

// Lab is a netlab.Lab that belongs to a test.
type Lab struct {
	*netlab.Lab
	t testing.TB
}

// Node is a node of the lab.
type Node = netlab.Node

// New makes a lab, or skips when not root. Its cleanup removes everything
// it made.
func New(t testing.TB) *Lab {
	t.Helper()
	testutil.RequireRoot(t)
	l, err := netlab.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: %v", err)
		}
	})
	return &Lab{Lab: l, t: t}
}

// AddNode makes a node (netlab.Lab.AddNode) or fails the test.
func (l *Lab) AddNode(name string) *Node {
	l.t.Helper()
	n, err := l.Lab.AddNode(name)
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

// HasRules reports whether the host still holds accept rules of the
// bridge; for tests of the lab itself.
func HasRules(bridge string) (bool, error) { return netlab.HasRules(bridge) }
