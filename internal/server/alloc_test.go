package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// TestAllocationRefusalsStatusCodes checks the status of each allocation
// refusal: a clash with what the cluster holds is 409, a mistake in the
// request 400, and neither writes anything.
func TestAllocationRefusalsStatusCodes(t *testing.T) {
	cleanupObjects(t, "/v1/networks/srv-alloc-a", "/v1/networks/srv-alloc-b")
	cleanupServices(t)
	withSubnet := func(name, subnet, gw string) string {
		return mustJSON(api.NetworkSpec{Name: name, IPAM: &api.IPAM{Config: []api.IPAMConfig{{Subnet: subnet, Gateway: gw}}}})
	}
	code, b := call(t, http.MethodPost, "/v1/networks", withSubnet("srv-alloc-a", "10.88.0.0/16", ""))
	if code != http.StatusCreated {
		t.Fatalf("create network: %d %s", code, b)
	}
	n := decodeAs[api.Network](t, b)
	if sub, gw := n.Subnet(); sub != "10.88.0.0/16" || gw != "10.88.0.1" || n.DriverState == nil || n.DriverState.VNI < 4097 {
		t.Fatalf("network %+v %+v", n.IPAM, n.DriverState)
	}
	msg := callError(t, http.MethodPost, "/v1/networks", withSubnet("srv-alloc-b", "10.88.128.0/17", ""), http.StatusConflict)
	if !strings.Contains(msg, "overlaps subnet 10.88.0.0/16 of network srv-alloc-a") {
		t.Fatalf("overlap: %q", msg)
	}
	for body, want := range map[string]string{
		withSubnet("srv-alloc-b", "10.89.0.0/33", ""):          "invalid subnet",
		withSubnet("srv-alloc-b", "10.89.0.0/16", "10.90.0.1"): "not a host address of subnet 10.89.0.0/16",
		withSubnet("srv-alloc-b", "", "10.90.0.1"):             "without a subnet",
	} {
		if msg := callError(t, http.MethodPost, "/v1/networks", body, http.StatusBadRequest); !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", body, msg, want)
		}
	}
	if code, _ := call(t, http.MethodGet, "/v1/networks/srv-alloc-b", ""); code != http.StatusNotFound {
		t.Fatalf("a refused network exists: %d", code)
	}

	spec := sleepSpec("srv-alloc-web", 0)
	spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 18181}}}
	createService(t, spec)
	spec.Name = "srv-alloc-other"
	msg = callError(t, http.MethodPost, "/v1/services", mustJSON(spec), http.StatusConflict)
	if msg != "published port 18181/tcp is already in use by service srv-alloc-web" {
		t.Fatalf("port conflict: %q", msg)
	}
	spec.EndpointSpec = &api.EndpointSpec{Mode: api.EndpointModeDNSRR, Ports: []api.PortConfig{{TargetPort: 80}}}
	if msg := callError(t, http.MethodPost, "/v1/services", mustJSON(spec), http.StatusBadRequest); !strings.Contains(msg, "cannot be used with endpoint mode dnsrr") {
		t.Fatalf("dnsrr: %q", msg)
	}
	spec.EndpointSpec = &api.EndpointSpec{Mode: "round-robin"}
	if msg := callError(t, http.MethodPost, "/v1/services", mustJSON(spec), http.StatusBadRequest); !strings.Contains(msg, `endpoint mode "round-robin": want vip or dnsrr`) {
		t.Fatalf("bad mode: %q", msg)
	}
	if svcs := listServices(t); len(svcs) != 1 {
		t.Fatalf("%d services, want the first only", len(svcs))
	}

	// GET /v1/swarm (the dev cluster's own API) shows the cluster's
	// address pool, recorded at its first start.
	c, err := client.New(testDev.Host())
	if err != nil {
		t.Fatal(err)
	}
	sw, err := c.SwarmInspect(context.Background())
	if err != nil || len(sw.DefaultAddrPool) != 1 || sw.DefaultAddrPool[0] != "10.0.0.0/8" || sw.SubnetSize != 24 {
		t.Fatalf("swarm: %+v %v", sw, err)
	}
}
