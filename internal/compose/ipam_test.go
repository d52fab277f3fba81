package compose

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestNetworkIPAMSubnet(t *testing.T) {
	st := mustLoad(t, `
services:
  a:
    image: x
    networks: [back, front]
networks:
  back:
    ipam:
      config:
        - subnet: 10.30.0.0/24
          gateway: 10.30.0.254
  front: {}
`)
	specs := map[string]api.NetworkSpec{}
	for _, n := range st.Networks {
		specs[n.Name] = n.Spec()
	}
	eq(t, "back ipam", specs["st_back"].IPAM, &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.30.0.0/24", Gateway: "10.30.0.254"}}})
	eq(t, "front ipam", specs["st_front"].IPAM, (*api.IPAM)(nil))
	for _, w := range st.Warnings {
		if strings.Contains(w, "ipam") {
			t.Errorf("ipam.config.subnet is supported, but warned: %q", w)
		}
	}
	// What shoal has no field for is still named.
	st = mustLoad(t, "services:\n  a:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.31.0.0/24\n          ip_range: 10.31.0.0/25\n")
	if !strings.Contains(strings.Join(st.Warnings, "\n"), "ip_range") {
		t.Errorf("no warning for ipam.config.ip_range: %q", st.Warnings)
	}
}
