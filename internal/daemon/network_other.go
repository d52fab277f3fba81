//go:build !linux

package daemon

import (
	"log/slog"

	"github.com/shoalproject/shoal/internal/netagent"
)

// openNetworking returns nil and why: overlay networks are network
// namespaces, Linux only. The node reports networks unsupported
// (agent.Config.OS), so the scheduler places no task with networks here.
func openNetworking(_ string, _ bool, log *slog.Logger) (*netagent.Agent, string) {
	why := netagent.ErrUnsupported.Error()
	log.Warn("networks are not available on this node: tasks that name networks are not placed here", "reason", why)
	return nil, why
}
