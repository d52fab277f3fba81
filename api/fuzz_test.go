package api_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

var knownKeys = []string{"node.id", "node.hostname", "node.ip", "node.role", "node.platform.os", "node.platform.arch"}

// FuzzParseConstraint checks that ParseConstraint never panics and that what
// it accepts is well formed, keeps the label name as written, and parses
// again to itself.
func FuzzParseConstraint(f *testing.F) {
	for _, s := range []string{
		"node.role==manager", "node.role!=worker", "node.platform.os = linux",
		"NODE.LABELS.Zone==east", "engine.labels.disk != ssd", "node.ip==10.0.0.0/8",
		"", "==", "!=", "a==b", "node.labels.==x", "node.labels.a=b!=c", "node.labels.a!!=c",
		"node.labels.a!==c", "node.id===x", "engİne.labels.zone==x", "node.labels.\xff==x",
		"\xffnode.id==x", "NODE.İD==x", "node.labels.K==1", "node.hoſtname==x", "node.platform.oſ==linux", "node.labelſ.a==b", " \t node.role == manager \n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := api.ParseConstraint(expr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "constraint ") {
				t.Fatalf("error %q does not name the constraint", err)
			}
			return
		}
		if c.Key == "" || c.Value == "" || strings.ContainsAny(c.Value, "=!") {
			t.Fatalf("ParseConstraint(%q) = %+v: malformed", expr, c)
		}
		op := "!="
		if c.Equal {
			op = "=="
		}
		// The key as written, which the parsed key must equal but for case.
		written, _, _ := strings.Cut(expr, op)
		written = strings.TrimSpace(written)
		if !strings.EqualFold(c.Key, written) || len(c.Key) != len(written) {
			t.Fatalf("ParseConstraint(%q) key %q is not %q", expr, c.Key, written)
		}
		label := false
		for _, p := range []string{"node.labels.", "engine.labels."} {
			if strings.HasPrefix(c.Key, p) {
				label = true
				if c.Key[len(p):] != written[len(p):] || len(c.Key) == len(p) {
					t.Fatalf("ParseConstraint(%q) label %q, written %q", expr, c.Key[len(p):], written[len(p):])
				}
			}
		}
		if !label {
			found := false
			for _, k := range knownKeys {
				found = found || c.Key == k
			}
			if !found {
				t.Fatalf("ParseConstraint(%q) accepted key %q", expr, c.Key)
			}
		}
		again, err := api.ParseConstraint(c.Key + op + c.Value)
		if err != nil || again != c {
			t.Fatalf("re-parse of %+v = %+v, %v", c, again, err)
		}
		// Matching never panics, whatever the node.
		_ = c.Matches(&api.Node{})
		_ = c.Matches(testNode())
	})
}

// FuzzValidateServiceSpec decodes random JSON as a spec: Validate must never
// panic, must be deterministic, and a spec it accepts has a valid name,
// exactly one mode and something to run.
func FuzzValidateServiceSpec(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"Name":"web","Mode":{"Replicated":{"Replicas":2}},"TaskTemplate":{"ContainerSpec":{"Command":["sleep","1"]}}}`,
		`{"Name":"st_web","Mode":{"Global":{}},"TaskTemplate":{"ContainerSpec":{"Image":"nginx"}}}`,
		`{"Name":"x","Mode":{"Replicated":{},"Global":{}},"TaskTemplate":{"ContainerSpec":{"Command":[""],"StopSignal":"9x","StopGracePeriod":"-1s","Env":["=a"]},"RestartPolicy":{"Condition":"x","Delay":-5,"Window":"-1m"},"Placement":{"Constraints":["node.os=linux","node.labels.a==b"]},"Resources":{"Limits":{"NanoCPUs":-1},"Reservations":{"MemoryBytes":-1}}}}`,
		`{"Name":"p","Mode":{"Replicated":null},"EndpointSpec":{"Ports":[{"TargetPort":0,"PublishedPort":80},{"TargetPort":70000,"PublishedPort":80,"Protocol":"x","PublishMode":"y"}]}}`,
		`{"Name":"u","UpdateConfig":{"Order":"x","FailureAction":"y","MaxFailureRatio":7,"Delay":"1s"},"RollbackConfig":{"MaxFailureRatio":-1}}`,
		`{"TaskTemplate":{"Placement":null,"RestartPolicy":null,"Resources":{"Limits":null}},"EndpointSpec":null}`,
		`{"Name":"` + strings.Repeat("a", 80) + `","TaskTemplate":{"ContainerSpec":{"Healthcheck":{"Test":["NONE"],"Interval":"1s"}}}}`,
		`[]`, `null`, `{"Name":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var spec api.ServiceSpec
		if err := json.Unmarshal(data, &spec); err != nil {
			return
		}
		err := spec.Validate()
		if err2 := spec.Validate(); (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Validate is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			var j interface{ Unwrap() []error }
			if !errors.As(err, &j) || len(j.Unwrap()) == 0 {
				t.Fatalf("Validate error %T is not a join", err)
			}
			return
		}
		if api.ValidateName("service", spec.Name) != nil {
			t.Fatalf("accepted name %q", spec.Name)
		}
		if (spec.Mode.Replicated == nil) == (spec.Mode.Global == nil) {
			t.Fatalf("accepted mode %+v", spec.Mode)
		}
		c := spec.TaskTemplate.ContainerSpec
		if c.Image == "" && (len(c.Command) == 0 || c.Command[0] == "") {
			t.Fatalf("accepted a spec with nothing to run: %+v", c)
		}
		if p := spec.TaskTemplate.Placement; p != nil && len(p.ParsedConstraints()) != len(p.Constraints) {
			t.Fatalf("accepted bad constraints %q", p.Constraints)
		}
	})
}
