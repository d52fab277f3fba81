package daemon

import (
	"log/slog"
	"math"
)

// The open-file budget. A node process's file descriptors are shared by
// the API socket and its clients, Raft's files, the agent's task logs,
// pidfds and health checks, and the ingress's client and backend
// connections, and the routing mesh's. These two are the parts strangers
// drive, so they get a bounded share: by default what is left after a
// reserve, half each, as HAProxy sizes its maxconn from `ulimit -n` (each
// proxied connection needs a second descriptor to its backend). The rest
// of the process keeps at least the reserve whatever the clients do.
const (
	// fdReserveMin is the fewest descriptors the default ingress limit
	// leaves to the rest of the process; a quarter of the limit when
	// that is more. A shoal dev with a few tasks uses about 20.
	fdReserveMin = 128
	// minIngressConns is the default limit's floor, for limits too low
	// to share.
	minIngressConns = 16
)

// defaultIngressMaxConns is the ingress connection limit for an
// open-file limit: its half of the strangers' budget (proxyShare).
func defaultIngressMaxConns(limit uint64) int { return proxyShare(limit) }

// proxyShare is the default connection limit of each of the two listeners
// strangers drive, the HTTP ingress and the routing mesh: what is left
// after the reserve, two descriptors a connection (client and backend),
// half each; minIngressConns when the limit is too low to share, and
// unbounded (0) when it is unknown.
func proxyShare(limit uint64) int {
	if limit == 0 {
		return 0
	}
	reserve := fdReserve(limit)
	if limit < reserve+4*minIngressConns {
		return minIngressConns
	}
	return int(min((limit-reserve)/4, math.MaxInt32))
}

// fdReserve is what the default ingress limit leaves to the rest of the
// process under limit.
func fdReserve(limit uint64) uint64 { return max(fdReserveMin, limit/4) }

// defaultAgentMaxConns is the agent port's connection limit for an
// open-file limit: a quarter of the reserve the ingress leaves (an agent
// holds a few connections: its long-polls and heartbeats), so that
// clients of the agent port, who need no token to connect, cannot take
// the descriptors the API and the tasks need either; unbounded (0) when
// the limit is unknown.
func defaultAgentMaxConns(limit uint64) int {
	if limit == 0 {
		return 0
	}
	return int(min(max(fdReserve(limit)/4, minIngressConns), math.MaxInt32))
}

// ingressMaxConns is the connection limit for an ingress asked for
// configured (0: the default for limit). It warns when a configured
// limit leaves the rest of the process less than the reserve.
func ingressMaxConns(configured int, limit uint64, log *slog.Logger) int {
	if configured == 0 {
		return defaultIngressMaxConns(limit)
	}
	if limit > 0 && uint64(4*configured)+fdReserveMin > limit {
		log.Warn("--ingress-max-conns leaves too few file descriptors for the API and the tasks under the open-file limit; lower it or raise the limit",
			"max_conns", configured, "limit", limit)
	}
	return configured
}
