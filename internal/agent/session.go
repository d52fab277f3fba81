package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoalproject/shoal/api"
)

// ErrRejected marks a registration the managers refuse for good, such as
// one with a wrong join token: retrying cannot help, so Run returns it.
var ErrRejected = errors.New("registration rejected")

// ErrRemoved marks a registration refused because an operator removed the
// node from the cluster: Run stops the node's tasks and returns it (it
// wraps ErrRejected).
var ErrRemoved = fmt.Errorf("node removed: %w", ErrRejected)

// Manager is the managers' side as an agent sees it: the dispatcher,
// in-process or across the network.
type Manager interface {
	Register(ctx context.Context, reg api.NodeRegistration) (Session, error)
}

// Session is an agent's open connection to the dispatcher.
type Session interface {
	// Assignments returns the next change to the node's tasks; the first
	// call returns the full set.
	Assignments(ctx context.Context) (api.Assignments, error)
	// Report sends task status changes, in order.
	Report(ctx context.Context, reports []api.TaskReport) error
	// Heartbeat tells the managers the node is alive and returns when to
	// beat next.
	Heartbeat(ctx context.Context) (time.Duration, error)
	Close()
}
