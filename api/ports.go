package api

import (
	"sort"
	"strconv"
	"strings"
)

// RoutedPorts adds the ports a service's routing labels send traffic to
// (traefik.http.services.S.loadbalancer.server.port) to its tasks' ports,
// so that the ingress reaches them without a --publish, as Traefik reaches
// a Swarm task over its network. The agent publishes these ports, and the
// dispatcher accepts endpoints only for them.
func RoutedPorts(ports []PortConfig, labels map[string]string) []PortConfig {
	have := map[uint32]bool{}
	for _, p := range ports {
		have[p.TargetPort] = true
	}
	out := ports
	var extra []uint32
	for k, v := range labels {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "traefik.http.services.") || !strings.HasSuffix(lk, ".loadbalancer.server.port") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil || n == 0 || have[uint32(n)] {
			continue
		}
		have[uint32(n)] = true
		extra = append(extra, uint32(n))
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	for _, n := range extra {
		out = append(out[:len(out):len(out)], PortConfig{TargetPort: n, Protocol: "tcp"})
	}
	return out
}
