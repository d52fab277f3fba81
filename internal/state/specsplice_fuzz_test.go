package state

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// decodesAsJSON fails t unless decodeCommand with c decodes entry as
// json.Unmarshal does, or fails as it does.
func decodesAsJSON(t *testing.T, c *specCache, entry []byte) {
	t.Helper()
	var want, got Command
	werr := json.Unmarshal(entry, &want)
	gerr := decodeCommand(entry, &got, c)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: json.Unmarshal: %v, decodeCommand: %v", entry, werr, gerr)
	}
	if werr != nil {
		return
	}
	if len(want.Ops) == 0 && len(got.Ops) == 0 {
		want.Ops, got.Ops = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", entry, got, want)
	}
}

// knownTemplate is a specCache that knows one template, and its encoding.
func knownTemplate() (*specCache, api.TaskSpec, string) {
	tmpl := api.TaskSpec{
		ContainerSpec: api.ContainerSpec{Command: []string{"a", "<&>"}, Env: []string{"E=1"}, Labels: map[string]string{"x": "1"}},
		Networks:      []api.NetworkAttachment{{Target: "n", Aliases: []string{"q"}}},
	}
	c := &specCache{}
	c.learn(&api.Service{ID: "s", SpecVersion: 1, Spec: api.ServiceSpec{TaskTemplate: tmpl}})
	b, _ := json.Marshal(tmpl)
	return c, tmpl, string(b)
}

// TestSplicedSpecsMergeAsJSONDoes: entries no manager writes, whose
// known spec encoding encoding/json would merge another into (an "ops"
// array given twice with tasks in both, a spec key escaped or in a
// Unicode case fold), decode as json.Unmarshal decodes them.
func TestSplicedSpecsMergeAsJSONDoes(t *testing.T) {
	c, _, spec := knownTemplate()
	task := func(extra string) string {
		return `{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":` + spec + extra + `}`
	}
	other := `{"ContainerSpec":{"Command":["z"],"Labels":{"y":"2"}},"Networks":[{"Target":"m"}]}`
	const at = `{"time":"2026-01-01T00:00:00Z",`
	for _, entry := range []string{
		at + `"ops":[{"k":"create_task","t":` + task("") + `},{"k":"create_task","t":` + task("") + `}],"ops":[{"k":"create_task","t":{"Spec":` + other + `}}]}`,
		at + `"ops":[{"k":"create_task","t":{"Spec":` + other + `}}],"ops":[{"k":"create_task","t":` + task("") + `}]}`,
		at + `"ops":[{"k":"create_task","t":` + task("") + `}],"ops":[{"k":"create_task","t":{"ID":"u"}}]}`,
		at + `"ops":[{"k":"create_task","t":` + task("") + `}],"ops":[{"k":"create_task","t":null},{"k":"create_task","t":` + task("") + `}]}`,
		at + `"ops":[{"k":"create_task","t":` + task("") + `}],"ops":[{"k":"create_task","t":{"Spec":{"ContainerSpec":{"Labels":{"z":"3"}}}}}]}`,
		at + `"ops":[{"k":"create_task","t":` + task(`,"\u0053pec":`+other) + `}]}`,
		at + `"ops":[{"k":"create_task","t":` + task(`,"ſpec":`+other) + `}]}`,
		at + `"ops":[{"k":"create_task","t":` + strings.Replace(task(""), `"Spec"`, `"ſpec"`, 1) + `}]}`,
		at + `"ops":[{"k":"create_task","t":` + task("") + `,"T":{"Spec":{"ContainerSpec":{"Env":null}}}}]}`,
		at + `"ops":[{"k":"create_task","t":` + task(`,"DesiredState":"running","DesiredState":99999`) + `}]}`,
	} {
		decodesAsJSON(t, c, []byte(entry))
	}
}

// FuzzDecodeCommandAsJSON: any entry, a known template's creations
// mutated, decodes through the mirrors as json.Unmarshal decodes it.
func FuzzDecodeCommandAsJSON(f *testing.F) {
	c, tmpl, _ := knownTemplate()
	task := &api.Task{ID: "t", ServiceID: "s", SpecVersion: 1, Spec: tmpl, DesiredState: api.TaskStateRunning}
	cmd := &Command{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Ops: []Op{
		{Kind: OpCreateTask, Task: task}, {Kind: OpAssignTask, ID: "t", NodeID: "n"}, {Kind: OpCreateTask, Task: task},
	}}
	b, err := json.Marshal(cmd)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, entry []byte) { decodesAsJSON(t, c, entry) })
}
