package agentlink

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/shoalproject/shoal/internal/httpjson"
)

// nodesFullRetry is when an agent refused because the node table is full
// should try again: a place frees up only when a node without tasks goes
// down.
const nodesFullRetry = 30 * time.Second

// peerAddr is the IP address a request came from.
func peerAddr(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, errors.New("cannot tell the address the request came from")
	}
	return ap.Addr().Unmap().WithZone(""), nil
}

// checkNodeAddr checks the address an agent registers its node with: it
// must be the address the agent connects from. Every ingress sends
// traffic to the node's address, and the dispatcher accepts endpoints
// only there; a TCP peer address cannot be forged without the route back,
// so a worker cannot name the manager's address (its loopback, say) or
// another node's. This is what swarmkit does: a node's address is the
// peer address of its connection. It returns 0 when the address is good,
// or the status and message of the refusal.
func checkNodeAddr(addr string, peer netip.Addr) (int, string) {
	if addr == "" {
		return http.StatusBadRequest, "missing Addr: the address other nodes reach this node on"
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("invalid Addr %.64q: want the node's IP address", addr)
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() || ip.IsMulticast() {
		return http.StatusBadRequest, fmt.Sprintf("invalid Addr %s: want the node's own unicast IP address", ip)
	}
	if ip != peer {
		// Final: the client turns 403 into a refusal the agent stops on.
		return http.StatusForbidden, fmt.Sprintf("node address %s is not the address the agent connects from (%s): "+
			"a node registers from its own address; start the agent with --addr %s, or remove what translates its address on the way (NAT, a proxy)",
			ip, peer, peer)
	}
	return 0, ""
}

// tooMany answers a refusal to come back after retry.
func tooMany(w http.ResponseWriter, code int, retry time.Duration, msg string) {
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpjson.WriteError(w, code, fmt.Sprintf("%s (retry after %ds)", msg, secs))
}
