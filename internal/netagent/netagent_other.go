//go:build !linux

package netagent

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/mesh/resolver"
	"github.com/shoalproject/shoal/internal/runtime"
)

// ErrUnsupported is the answer of every Agent off Linux: shoal networks
// are network namespaces, veths and VXLAN.
var ErrUnsupported = fmt.Errorf("networks are not supported on this system (Linux only): %w", errors.ErrUnsupported)

// Config sets up a node's networking; off Linux there is none to set up.
type Config struct {
	Resolver resolver.Config
	Logger   *slog.Logger
}

// Agent stands for a node's networking where there is none.
type Agent struct{}

// New fails: a node off Linux runs its tasks without networks.
func New(Config) (*Agent, error) { return nil, ErrUnsupported }

// Close does nothing.
func (a *Agent) Close() error { return nil }

// Sandbox fails: there are no namespaces to give a task.
func (a *Agent) Sandbox(*api.Task, map[string]*api.Network) (*runtime.Sandbox, error) {
	return nil, ErrUnsupported
}

// Attach fails: a task cannot join a network here.
func (a *Agent) Attach(Request) error { return ErrUnsupported }

// Detach has nothing to undo.
func (a *Agent) Detach(string) error { return nil }

// Prune has nothing to remove.
func (a *Agent) Prune(func(taskID string) bool) error { return nil }

// SetView has nothing to follow.
func (a *Agent) SetView(View) error { return nil }
