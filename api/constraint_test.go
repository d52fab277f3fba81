package api_test

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestParseConstraintOperators(t *testing.T) {
	cases := []struct {
		expr string
		want api.Constraint
	}{
		{"node.role==manager", api.Constraint{Key: "node.role", Equal: true, Value: "manager"}},
		{"node.role!=manager", api.Constraint{Key: "node.role", Equal: false, Value: "manager"}},
		{"  node.hostname ==  box-1 ", api.Constraint{Key: "node.hostname", Equal: true, Value: "box-1"}},
		{"node.ip==10.0.0.0/8", api.Constraint{Key: "node.ip", Equal: true, Value: "10.0.0.0/8"}},
		{"node.platform.arch != x86_64", api.Constraint{Key: "node.platform.arch", Value: "x86_64"}},
	}
	for _, tc := range cases {
		got, err := api.ParseConstraint(tc.expr)
		if err != nil || got != tc.want {
			t.Errorf("ParseConstraint(%q) = %+v, %v; want %+v", tc.expr, got, err, tc.want)
		}
	}
}

func TestParseConstraintSingleEqualsRejected(t *testing.T) {
	_, err := api.ParseConstraint("node.platform.os = linux")
	if err == nil {
		t.Fatal("a single = was accepted")
	}
	want := `constraint "node.platform.os = linux": want KEY==VALUE or KEY!=VALUE`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	for _, bad := range []string{"", "==", "node.role==", "==manager", "node.role", "node.role==a==b", "node.role!=a!=b", "node.role==a!b"} {
		if c, err := api.ParseConstraint(bad); err == nil {
			t.Errorf("ParseConstraint(%q) = %+v, want an error", bad, c)
		}
	}
}

func TestParseConstraintUnknownKeyRejected(t *testing.T) {
	for _, expr := range []string{"node.colour==red", "node.labels.==x", "engine.labels.==x", "labels.zone==x", "node==x", "node.platform==linux"} {
		_, err := api.ParseConstraint(expr)
		if err == nil {
			t.Errorf("ParseConstraint(%q) accepted an unknown key", expr)
			continue
		}
		if !strings.Contains(err.Error(), "unknown key") || !strings.Contains(err.Error(), "node.labels.KEY") {
			t.Errorf("ParseConstraint(%q) error = %q, want it to name the known keys", expr, err)
		}
	}
}

func TestParseConstraintLabelKeysKeepCase(t *testing.T) {
	cases := map[string]string{
		"node.labels.Zone==east":       "node.labels.Zone",
		"NODE.LABELS.Zone==east":       "node.labels.Zone",
		"Engine.Labels.DiskType==ssd":  "engine.labels.DiskType",
		"node.labels.a.B.c==1":         "node.labels.a.B.c",
		"node.labels.ÉTÉ==1":           "node.labels.ÉTÉ",
		"NoDe.LaBeLs.MiXeD-Case_1==on": "node.labels.MiXeD-Case_1",
	}
	for expr, want := range cases {
		c, err := api.ParseConstraint(expr)
		if err != nil || c.Key != want {
			t.Errorf("ParseConstraint(%q) key = %q, %v; want %q", expr, c.Key, err, want)
		}
	}
	// A prefix that only lower-cases to a known one (İ lower-cases to i) is
	// not that prefix: the label name must not be cut at the wrong byte.
	for _, expr := range []string{"engİne.labels.zone==x", "node.labelſ.zone==x", "NODE.İD==x", "node.hoſtname==x"} {
		if c, err := api.ParseConstraint(expr); err == nil {
			t.Errorf("%s parsed as %+v", expr, c)
		}
	}
}

func TestParseConstraintKeysCaseInsensitive(t *testing.T) {
	cases := map[string]string{
		"NODE.ID==x":               "node.id",
		"Node.Hostname==x":         "node.hostname",
		"node.IP==10.0.0.1":        "node.ip",
		"Node.Role==manager":       "node.role",
		"NODE.PLATFORM.OS==linux":  "node.platform.os",
		"node.Platform.Arch==s390": "node.platform.arch",
	}
	for expr, want := range cases {
		c, err := api.ParseConstraint(expr)
		if err != nil || c.Key != want {
			t.Errorf("ParseConstraint(%q) key = %q, %v; want %q", expr, c.Key, err, want)
		}
	}
}

func testNode() *api.Node {
	return &api.Node{
		ID:   "node1id",
		Spec: api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityActive, Labels: map[string]string{"zone": "East", "Tier": "db"}},
		Description: api.NodeDescription{
			Hostname:     "box-1",
			Platform:     api.Platform{OS: "linux", Architecture: "x86_64"},
			EngineLabels: map[string]string{"disk": "ssd"},
		},
		Status: api.NodeStatus{State: api.NodeStateReady, Addr: "10.1.2.3:4242"},
	}
}

func mustParse(t *testing.T, expr string) api.Constraint {
	t.Helper()
	c, err := api.ParseConstraint(expr)
	if err != nil {
		t.Fatalf("ParseConstraint(%q): %v", expr, err)
	}
	return c
}

func TestConstraintMatches(t *testing.T) {
	n := testNode()
	cases := map[string]bool{
		"node.id==node1id":            true,
		"node.id==other":              false,
		"node.id!=other":              true,
		"node.hostname==BOX-1":        true, // values compare case-insensitively
		"node.hostname!=box-1":        false,
		"node.role==manager":          true,
		"node.role==worker":           false,
		"node.role!=worker":           true,
		"node.platform.os==linux":     true,
		"node.platform.os==Linux":     true,
		"node.platform.os==windows":   false,
		"node.platform.arch==x86_64":  true,
		"node.platform.arch!=x86_64":  false,
		"node.labels.zone==east":      true,
		"node.labels.zone!=east":      false,
		"node.labels.zone==west":      false,
		"node.labels.Tier==db":        true,
		"node.labels.tier==db":        false, // label names keep their case: "tier" is missing
		"node.labels.tier!=db":        true,
		"node.labels.missing==x":      false, // a missing label equals nothing
		"node.labels.missing!=x":      true,
		"engine.labels.disk==SSD":     true,
		"engine.labels.disk!=ssd":     false,
		"engine.labels.missing==ssd":  false,
		"engine.labels.missing!=ssd":  true,
		"node.ip==10.1.2.3":           true,
		"node.ip!=10.1.2.3":           false,
		"node.ip==10.1.2.4":           false,
		"node.ip==10.0.0.0/8":         true,
		"node.ip==10.1.2.0/24":        true,
		"node.ip==10.1.3.0/24":        false,
		"node.ip!=10.1.3.0/24":        true,
		"node.ip!=10.0.0.0/8":         false,
		"node.ip==::ffff:10.1.2.3":    true,
		"node.ip==not-an-address":     false,
		"node.ip==2001:db8::/32":      false,
		"node.labels.zone == east   ": true,
	}
	for expr, want := range cases {
		if got := mustParse(t, expr).Matches(n); got != want {
			t.Errorf("%s on %+v: Matches = %v, want %v", expr, n.Spec, got, want)
		}
	}
}

func TestConstraintMatchesIPWithoutPortAndUnknownAddr(t *testing.T) {
	n := testNode()
	n.Status.Addr = "192.168.1.9" // no port
	if !mustParse(t, "node.ip==192.168.0.0/16").Matches(n) {
		t.Error("a bare address did not match its CIDR")
	}
	n.Status.Addr = "[2001:db8::1]:80"
	if !mustParse(t, "node.ip==2001:db8::/32").Matches(n) {
		t.Error("an IPv6 address with a port did not match its CIDR")
	}
	// A node whose address is unknown matches no == and every !=.
	n.Status.Addr = ""
	if mustParse(t, "node.ip==0.0.0.0/0").Matches(n) {
		t.Error("an unknown address matched ==")
	}
	if !mustParse(t, "node.ip!=10.0.0.0/8").Matches(n) {
		t.Error("an unknown address did not match !=")
	}
	// A node without labels at all.
	n.Spec.Labels = nil
	n.Description.EngineLabels = nil
	if mustParse(t, "node.labels.zone==east").Matches(n) || !mustParse(t, "node.labels.zone!=east").Matches(n) {
		t.Error("missing label map: want == false, != true")
	}
	// An unknown key built by hand matches nothing.
	if (api.Constraint{Key: "node.bogus", Equal: false, Value: "x"}).Matches(n) {
		t.Error("an unknown key matched")
	}
}

func TestParsedConstraintsAndIsPlatform(t *testing.T) {
	var nilPlacement *api.Placement
	if got := nilPlacement.ParsedConstraints(); got != nil {
		t.Errorf("nil placement: %v", got)
	}
	p := &api.Placement{Constraints: []string{"node.platform.os==linux", "bad", "node.role!=worker"}}
	got := p.ParsedConstraints()
	if len(got) != 2 || got[0].Key != "node.platform.os" || got[1].Key != "node.role" {
		t.Fatalf("ParsedConstraints = %+v", got)
	}
	if !got[0].IsPlatform() || got[1].IsPlatform() {
		t.Errorf("IsPlatform: %v %v", got[0].IsPlatform(), got[1].IsPlatform())
	}
}
