package stack

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/allocator"
	"github.com/shoalproject/shoal/internal/compose"
)

// subnetProblems checks the subnets the stack's new networks ask for
// (ipam.config) as the managers will when they create them: one subnet
// that parses, a gateway inside it, and no overlap with an existing
// network or another of the stack's. Refused at create time, such a
// network would stop the deploy after the networks before it were made.
func subnetProblems(st *compose.Stack, existing map[string]*api.Network) []error {
	var used []netip.Prefix
	var owners []string
	// In name order, so that a subnet overlapping several is always
	// reported against the same one.
	for _, name := range slices.Sorted(maps.Keys(existing)) {
		n := existing[name]
		if s, _ := n.Subnet(); s != "" {
			if p, err := netip.ParsePrefix(s); err == nil {
				used, owners = append(used, p), append(owners, n.Spec.Name)
			}
		}
	}
	var problems []error
	for _, n := range st.Networks {
		if n.External || existing[n.Name] != nil || n.IPAM == nil || len(n.IPAM.Config) == 0 {
			continue
		}
		if len(n.IPAM.Config) > 1 {
			problems = append(problems, fmt.Errorf("network %s: %d subnets given: a network has one subnet", n.Name, len(n.IPAM.Config)))
			continue
		}
		want := n.IPAM.Config[0]
		if want.Subnet == "" {
			problems = append(problems, fmt.Errorf("network %s: gateway %s without a subnet: give the subnet too", n.Name, want.Gateway))
			continue
		}
		subnet, err := allocator.ParseSubnet(want.Subnet)
		if err != nil {
			problems = append(problems, fmt.Errorf("network %s: %w", n.Name, err))
			continue
		}
		if want.Gateway != "" {
			if _, err := allocator.ParseGateway(want.Gateway, subnet); err != nil {
				problems = append(problems, fmt.Errorf("network %s: %w", n.Name, err))
			}
		}
		for i, u := range used {
			if u.Overlaps(subnet) {
				problems = append(problems, fmt.Errorf("network %s: subnet %s overlaps subnet %s of network %s", n.Name, subnet, u, owners[i]))
				break
			}
		}
		used, owners = append(used, subnet), append(owners, n.Name)
	}
	return problems
}
