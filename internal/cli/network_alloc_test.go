package cli

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// cleanupNetworks removes the networks when the test ends; register it
// before cleanupServices, so that it runs after the services are gone.
func cleanupNetworks(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			shoal(t, "network", "rm", n)
		}
	})
}

func TestNetworkCreateSubnetAndOverlap(t *testing.T) {
	cleanupNetworks(t, "alloc-wide", "alloc-inside", "alloc-pool")
	mustShoal(t, "network", "create", "--subnet", "10.77.0.0/16", "--gateway", "10.77.0.254", "alloc-wide")
	r := mustShoal(t, "network", "inspect", "alloc-wide")
	var nets []api.Network
	if err := json.Unmarshal(ownJSON(r.stdout), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v\n%s", err, r.stdout)
	}
	if sub, gw := nets[0].Subnet(); sub != "10.77.0.0/16" || gw != "10.77.0.254" || nets[0].DriverState == nil || nets[0].DriverState.VNI < 4097 {
		t.Fatalf("network inspect: subnet %q gateway %q driver state %+v", sub, gw, nets[0].DriverState)
	}
	for _, want := range []string{`"IPAM"`, `"Subnet": "10.77.0.0/16"`, `"VNI"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("network inspect does not show %s:\n%s", want, r.stdout)
		}
	}

	r = shoal(t, "network", "create", "--subnet", "10.77.3.0/24", "alloc-inside")
	if r.code != 1 || !strings.Contains(r.stderr, "subnet 10.77.3.0/24 overlaps subnet 10.77.0.0/16 of network alloc-wide") {
		t.Fatalf("overlapping subnet: %s", r)
	}
	r = shoal(t, "network", "create", "--subnet", "10.78.0.1/16", "alloc-inside")
	if r.code != 1 || !strings.Contains(r.stderr, "it should be 10.78.0.0/16") {
		t.Fatalf("subnet with host bits: %s", r)
	}
	if r = shoal(t, "network", "create", "--gateway", "10.78.0.1", "alloc-inside"); r.code != ExitUsage {
		t.Fatalf("--gateway without --subnet: %s", r)
	}
	if r = shoal(t, "network", "inspect", "alloc-inside"); r.code == 0 {
		t.Fatalf("a refused network exists: %s", r)
	}
	// Without --subnet: a /24 of the default pool, 10.0.0.0/8.
	mustShoal(t, "network", "create", "alloc-pool")
	r = mustShoal(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}", "alloc-pool")
	if !regexp.MustCompile(`^10\.\d+\.\d+\.0/24 10\.\d+\.\d+\.1\n$`).MatchString(r.stdout) {
		t.Fatalf("pool network: %q", r.stdout)
	}
}

func TestPublishedPortConflictNamesTheOtherService(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "alloc-web1", "--replicas", "0", "-d", "--publish", "18080:80", "--", "sleep", "300")
	r := shoal(t, "service", "create", "--name", "alloc-web2", "--replicas", "0", "-d", "--publish", "18080:81", "--", "sleep", "300")
	if r.code != 1 || !strings.Contains(r.stderr, "published port 18080/tcp is already in use by service alloc-web1") {
		t.Fatalf("second service publishing 18080: %s", r)
	}
	if r = shoal(t, "service", "inspect", "alloc-web2"); r.code == 0 {
		t.Fatal("the refused service exists")
	}
	// The same port in UDP is another port.
	mustShoal(t, "service", "create", "--name", "alloc-dns", "--replicas", "0", "-d", "--publish", "18080:53/udp", "--", "sleep", "300")
	// An update that takes the port is refused too.
	r = shoal(t, "service", "update", "-d", "--publish-add", "18080:82", "alloc-dns")
	if r.code != 1 || !strings.Contains(r.stderr, "published port 18080/tcp is already in use by service alloc-web1") {
		t.Fatalf("update taking 18080: %s", r)
	}
	// dnsrr cannot publish in ingress mode.
	r = shoal(t, "service", "create", "--name", "alloc-rr", "--endpoint-mode", "dnsrr", "-d", "--publish", "80", "--", "sleep", "300")
	if r.code != 1 || !strings.Contains(r.stderr, "port 80/tcp: ingress mode (the default) cannot be used with endpoint mode dnsrr") {
		t.Fatalf("dnsrr with an ingress port: %s", r)
	}
	mustShoal(t, "service", "create", "--name", "alloc-rr", "--endpoint-mode", "dnsrr", "--replicas", "0", "-d", "--publish", "mode=host,target=80", "--", "sleep", "300")
}

// TestTargetOnlyPortAndAddresses follows a service that publishes a
// target port only and attaches to a network: it gets a published port
// from 30000-32767 that an update keeps, a virtual IP, and each task an
// address of the network's subnet.
func TestTargetOnlyPortAndAddresses(t *testing.T) {
	cleanupNetworks(t, "alloc-app")
	cleanupServices(t)
	mustShoal(t, "network", "create", "--subnet", "10.79.0.0/24", "alloc-app")
	mustShoal(t, "service", "create", "--name", "alloc-dyn", "--replicas", "2", "-d", "--publish", "80", "--network", "alloc-app", "--", "sleep", "300")
	portRE := regexp.MustCompile(`\*:(\d+)->80/tcp`)
	published := func() string {
		t.Helper()
		r := mustShoal(t, "service", "ls", "--format", "{{.Name}} {{.Ports}}")
		var m []string
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(line, "alloc-dyn ") {
				m = portRE.FindStringSubmatch(line)
			}
		}
		if m == nil || m[1] < "30000" || m[1] > "32767" || len(m[1]) != 5 {
			t.Fatalf("service ls PORTS %q: want *:PORT->80/tcp with PORT in 30000-32767", r.stdout)
		}
		return m[1]
	}
	before := published()
	r := mustShoal(t, "service", "inspect", "alloc-dyn")
	var svcs []api.Service
	if err := json.Unmarshal(ownJSON(r.stdout), &svcs); err != nil || len(svcs) != 1 || svcs[0].Endpoint == nil {
		t.Fatalf("service inspect: %v\n%s", err, r.stdout)
	}
	ep := svcs[0].Endpoint
	if len(ep.VirtualIPs) != 1 || ep.VirtualIPs[0].Addr != "10.79.0.2/24" || len(ep.Ports) != 1 || ep.Ports[0].PublishedPort == 0 {
		t.Fatalf("service inspect Endpoint %+v", ep)
	}

	waitRunning(t, "alloc-dyn", 2)
	mustShoal(t, "service", "update", "--force", "alloc-dyn")
	if after := published(); after != before {
		t.Fatalf("published port %s became %s after service update --force", before, after)
	}
	// Every task, old and new, has an address of the subnet; no two live
	// tasks share one.
	ps := mustShoal(t, "service", "ps", "alloc-dyn", "--format", "{{.ID}} {{.DesiredState}} {{.Networks}}")
	held := map[string]string{}
	lines := strings.Split(strings.TrimSpace(ps.stdout), "\n")
	if len(lines) < 4 {
		t.Fatalf("service ps after an update: want 4 tasks:\n%s", ps.stdout)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "alloc-app=10.79.0.") || !strings.HasSuffix(f[2], "/24") {
			t.Fatalf("service ps line %q: want ID STATE alloc-app=10.79.0.N/24", line)
		}
		addr := netip.MustParsePrefix(strings.TrimPrefix(f[2], "alloc-app="))
		if addr.Addr().String() == "10.79.0.1" || addr.Addr().String() == "10.79.0.2" {
			t.Fatalf("task %s got the gateway or the VIP: %s", f[0], addr)
		}
		if f[1] == "Running" {
			if other, dup := held[f[2]]; dup {
				t.Fatalf("tasks %s and %s share %s", other, f[0], f[2])
			}
			held[f[2]] = f[0]
		}
	}
	// The API has them as Swarm's NetworksAttachments.
	waitUntil(t, "two tasks with their addresses", func(ctx context.Context, c *client.Client) (bool, error) {
		tasks, err := c.TaskList(ctx, client.TaskFilter{Service: "alloc-dyn"})
		if err != nil {
			return false, err
		}
		n := 0
		for _, tk := range tasks {
			if tk.DesiredState == api.TaskStateRunning && len(tk.NetworksAttachments) == 1 &&
				tk.NetworksAttachments[0].Network.Name == "alloc-app" && len(tk.NetworksAttachments[0].Addresses) == 1 {
				n++
			}
		}
		return n == 2, nil
	})
	// The network is in use while the service attaches to it.
	if r := shoal(t, "network", "rm", "alloc-app"); r.code != 1 || !strings.Contains(r.stderr, "in use by service alloc-dyn") {
		t.Fatalf("network rm of a used network: %s", r)
	}
}

// TestStacksCannotPublishTheSamePort deploys two stacks that publish the
// same port: the second deploy fails, naming the first stack's service.
// A stack's ipam.config subnet is its network's.
func TestStacksCannotPublishTheSamePort(t *testing.T) {
	cleanupNetworks(t, "allocst1_default", "allocst1_back", "allocst2_default")
	cleanupServices(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("one.yml", `
services:
  web:
    command: ["sleep", "300"]
    ports: ["18090:80"]
    deploy: {replicas: 0}
  db:
    command: ["sleep", "300"]
    networks: [back]
    deploy: {replicas: 0}
networks:
  back:
    ipam:
      config: [{subnet: 10.81.0.0/24}]
`)
	two := write("two.yml", `
services:
  api:
    command: ["sleep", "300"]
    ports: ["18090:8080"]
    deploy: {replicas: 0}
`)
	mustShoal(t, "stack", "deploy", "-d", "-c", one, "allocst1")
	r := mustShoal(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", "allocst1_back")
	if strings.TrimSpace(r.stdout) != "10.81.0.0/24" {
		t.Fatalf("stack network subnet %q, want 10.81.0.0/24", r.stdout)
	}
	r = shoal(t, "stack", "deploy", "-d", "-c", two, "allocst2")
	if r.code != 1 || !strings.Contains(r.stderr, "service allocst2_api: published port 18090/tcp is already in use by service allocst1_web") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("second stack publishing 18090: %s", r)
	}
	if r := shoal(t, "network", "inspect", "allocst2_default"); r.code == 0 {
		t.Fatal("the refused deploy created its network")
	}
}
