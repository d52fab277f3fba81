package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// mirrors checks that mirror has orig's fields in orig's order, with the
// same names, tags and types, but for the fields of except, whose types
// are given.
func mirrors(t *testing.T, orig, mirror reflect.Type, except map[string]reflect.Type) {
	t.Helper()
	var fields []reflect.StructField
	for i := range orig.NumField() {
		if orig.Field(i).IsExported() {
			fields = append(fields, orig.Field(i))
		}
	}
	if len(fields) != mirror.NumField() {
		t.Fatalf("%s has %d exported fields, its mirror %s %d: teach the mirror (taskjson.go) the new ones", orig, len(fields), mirror, mirror.NumField())
	}
	for i, o := range fields {
		m := mirror.Field(i)
		want := o.Type
		if typ, ok := except[o.Name]; ok {
			want = typ
		}
		if o.Name != m.Name || o.Tag != m.Tag || o.Anonymous != m.Anonymous || m.Type != want {
			t.Errorf("field %d: %s %s %q in %s, %s %s %q in its mirror %s", i, o.Name, o.Type, o.Tag, orig, m.Name, m.Type, m.Tag, mirror)
		}
	}
}

func TestTaskJSONMirrorsTask(t *testing.T) {
	mirrors(t, reflect.TypeFor[api.Task](), reflect.TypeFor[taskJSON](),
		map[string]reflect.Type{"Spec": reflect.TypeFor[rawSpec]()})
}

func TestOpJSONMirrorsOp(t *testing.T) {
	mirrors(t, reflect.TypeFor[Op](), reflect.TypeFor[opJSON](),
		map[string]reflect.Type{"Task": reflect.TypeFor[*taskJSON]()})
	mirrors(t, reflect.TypeFor[Command](), reflect.TypeFor[commandJSON](),
		map[string]reflect.Type{"Ops": reflect.TypeFor[[]opJSON]()})
}

// fill sets every field v can reach to a value other than its zero, so a
// conversion that drops a field shows.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
		return
	case reflect.TypeFor[api.TaskState]():
		v.Set(reflect.ValueOf(api.TaskStateRunning))
		return
	case reflect.TypeFor[json.RawMessage]():
		v.SetBytes([]byte(`{}`))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x<&>")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	}
}

// TestMirrorsKeepEveryField: a command whose every field is set decodes
// through the mirrors as json.Unmarshal decodes it, the spec taken from a
// known template or decoded.
func TestMirrorsKeepEveryField(t *testing.T) {
	var op Op
	fill(reflect.ValueOf(&op).Elem(), 0)
	task := *op.Task
	cmd := &Command{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Atomic: true, Ops: []Op{
		op, {Kind: OpCreateTask, Task: &task}, {Kind: OpCreateTask, Task: &task},
	}}
	want, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var plain Command
	if err := json.Unmarshal(want, &plain); err != nil {
		t.Fatal(err)
	}
	c := &specCache{}
	c.learn(&api.Service{ID: task.ServiceID, Meta: api.Meta{}, SpecVersion: task.SpecVersion, Spec: api.ServiceSpec{TaskTemplate: task.Spec}})
	for _, specs := range []*specCache{nil, c} {
		var got Command
		if err := decodeCommand(want, &got, specs); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, plain) {
			t.Fatalf("decoded (cache %v)\n %+v\njson.Unmarshal\n %+v", specs != nil, got, plain)
		}
	}
}

// TestRawSpecDecodesAsJSONDoes: entries no manager writes (a spec given
// twice, or in another case, null, malformed) decode through the mirror
// as json.Unmarshal decodes them, or fail as it does.
func TestRawSpecDecodesAsJSONDoes(t *testing.T) {
	c := &specCache{}
	tmpl := api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"a"}, Env: []string{"E=1"}}}
	c.learn(&api.Service{ID: "s", SpecVersion: 1, Spec: api.ServiceSpec{TaskTemplate: tmpl}})
	spec, _ := json.Marshal(tmpl)
	for _, task := range []string{
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":` + string(spec) + `}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":` + string(spec) + `,"Spec":{"ContainerSpec":{"Args":["b"]}}}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"spec":{"ContainerSpec":{"Args":["b"]}},"Spec":` + string(spec) + `}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":` + string(spec) + `,"SPEC":null}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":null}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":{"ContainerSpec":{"Command":"a"}}}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":` + string(spec) + `,"Spec":{"ContainerSpec":{"Command":"a"}}}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":{"ContainerSpec":{"Command":["a"]}} }`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":` + string(spec) + `,"t":1}`,
		`{"ID":"t","ServiceID":"s","SpecVersion":1,"Spec":[1]}`,
	} {
		for _, entry := range []string{
			`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"create_task","t":` + task + `}]}`,
			`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"create_task","t":` + task + `,"t":` + task + `}]}`,
		} {
			var want, got Command
			werr := json.Unmarshal([]byte(entry), &want)
			gerr := decodeCommand([]byte(entry), &got, c)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s: json.Unmarshal: %v, the mirror: %v", entry, werr, gerr)
			}
			if werr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n mirror %+v\n json   %+v", entry, got.Ops[0].Task.Spec, want.Ops[0].Task.Spec)
			}
		}
	}
}

// applyPlain applies an entry as the FSM did before specsplice.go: all of
// it decoded by json.Unmarshal.
func applyPlain(s *Store, index uint64, data []byte) Result {
	var cmd Command
	if err := json.Unmarshal(data, &cmd); err != nil {
		s.mu.Lock()
		s.setIndex(index)
		s.mu.Unlock()
		return Result{Index: index, Err: err}
	}
	return s.apply(index, &cmd)
}

// snapshotOf is the store's snapshot, as FSM.Snapshot writes it.
func snapshotOf(t *rapid.T, s *Store) []byte {
	snap, err := NewFSM(s).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink specSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

type specSink struct{ bytes.Buffer }

func (s *specSink) ID() string    { return "spec" }
func (s *specSink) Close() error  { return nil }
func (s *specSink) Cancel() error { return nil }

// TestPropertySplicedSpecsBuildTheSameState: random services and versions,
// and task creations whose specs are their service's template (shared or
// copied), another, or of another version, are applied by the FSM (specs
// taken from the templates it knows) and by plain json.Unmarshal, as a
// manager of the version before did: the two stores have the same
// snapshot after every entry, and the same results. Templates are at
// times changed in place between commands, as no caller should.
func TestPropertySplicedSpecsBuildTheSameState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fast := NewFSM(NewStore())
		plain := NewStore()
		genSpec := func(label string) api.TaskSpec {
			s := api.TaskSpec{ContainerSpec: api.ContainerSpec{
				Command: rapid.SliceOfN(rapid.SampledFrom([]string{"sleep", "inf", "<&>", "é"}), 0, 2).Draw(t, label+"-cmd"),
			}}
			if rapid.Bool().Draw(t, label+"-env") {
				s.ContainerSpec.Env = []string{}
			}
			if rapid.Bool().Draw(t, label+"-labels") {
				s.ContainerSpec.Labels = map[string]string{"a": rapid.SampledFrom([]string{"1", "2"}).Draw(t, label+"-label")}
			}
			if rapid.Bool().Draw(t, label+"-placement") {
				s.Placement = &api.Placement{Constraints: []string{"node.role==worker"}}
			}
			s.ForceUpdate = rapid.Uint64Range(0, 2).Draw(t, label+"-force")
			return s
		}
		svcs := map[string]*api.Service{}
		nCmds := rapid.IntRange(1, 25).Draw(t, "commands")
		for c := range nCmds {
			var ops []Op
			for range rapid.IntRange(1, 6).Draw(t, "ops") {
				id := rapid.SampledFrom([]string{"s1", "s2"}).Draw(t, "service")
				svc := svcs[id]
				switch {
				case svc == nil || rapid.IntRange(0, 5).Draw(t, "write") == 0:
					next := &api.Service{ID: id, SpecVersion: 1, Spec: api.ServiceSpec{Name: id, TaskTemplate: genSpec("template")}}
					kind := OpCreateService
					if svc != nil {
						kind = OpUpdateService
						next.SpecVersion = svc.SpecVersion + rapid.Uint64Range(0, 1).Draw(t, "bump")
					}
					svcs[id] = next
					ops = append(ops, Op{Kind: kind, Service: next})
				case rapid.IntRange(0, 7).Draw(t, "mutate") == 0 && svc.Spec.TaskTemplate.ContainerSpec.Labels != nil:
					// A caller changing a spec it proposed before.
					svc.Spec.TaskTemplate.ContainerSpec.Labels["a"] += "x"
				default:
					tk := api.NewTask(svc, uint64(len(ops)+1), "", step(c))
					tk.ID = fmt.Sprintf("t%d-%d", c, len(ops))
					switch rapid.IntRange(0, 3).Draw(t, "spec") {
					case 1:
						tk.Spec.ContainerSpec.Command = slices.Clone(tk.Spec.ContainerSpec.Command)
						tk.Spec.ContainerSpec.Labels = maps.Clone(tk.Spec.ContainerSpec.Labels)
					case 2:
						tk.Spec = genSpec("other")
					case 3:
						tk.SpecVersion += rapid.Uint64Range(0, 1).Draw(t, "otherVersion")
					}
					ops = append(ops, Op{Kind: OpCreateTask, Task: tk})
				}
			}
			if len(ops) == 0 {
				continue
			}
			cmd := &Command{Time: step(c), Atomic: rapid.Bool().Draw(t, "atomic"), Ops: ops}
			data, err := EncodeCommand(cmd)
			if err != nil {
				t.Fatal(err)
			}
			index := uint64(c + 1)
			got := fast.Apply(&raft.Log{Index: index, Data: data}).(Result)
			want := applyPlain(plain, index, data)
			if (got.Err == nil) != (want.Err == nil) || len(got.OpErrs) != len(want.OpErrs) {
				t.Fatalf("command %d: results %+v and %+v", c, got, want)
			}
			for i := range got.OpErrs {
				if (got.OpErrs[i] == nil) != (want.OpErrs[i] == nil) {
					t.Fatalf("command %d op %d: errors %v and %v", c, i, got.OpErrs[i], want.OpErrs[i])
				}
			}
			if a, b := snapshotOf(t, fast.Store()), snapshotOf(t, plain); !bytes.Equal(a, b) {
				t.Fatalf("command %d: snapshots differ\n fast  %s\n plain %s", c, a, b)
			}
		}
	})
}

func step(c int) time.Time { return time.Date(2026, 1, 1, 0, 0, c, 0, time.UTC) }

// TestPropertySameShallowImpliesDeepEqual: where sameShallow takes a spec
// for its template's, DeepEqual, which internSpec asked before, does too.
func TestPropertySameShallowImpliesDeepEqual(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"x"}, Labels: map[string]string{"a": "b"}},
			Placement: &api.Placement{}, Networks: []api.NetworkAttachment{}}
		b := a
		switch rapid.IntRange(0, 6).Draw(t, "change") {
		case 1:
			b.ContainerSpec.Command = []string{"x"}
		case 2:
			b.ContainerSpec.Labels = map[string]string{"a": "b"}
		case 3:
			b.Placement = &api.Placement{}
		case 4:
			b.Networks = nil
		case 5:
			b.ForceUpdate = 1
		case 6:
			b.ContainerSpec.Command = a.ContainerSpec.Command[:0]
		}
		if sameSpec(&a, &b) && !reflect.DeepEqual(a, b) {
			t.Fatalf("sameShallow but not DeepEqual: %+v %+v", a, b)
		}
	})
}

// TestDecodeSizesOpsAsJSONDoes: entries decoded with their ops' array
// sized beforehand (with a task or without, a task's key in another
// case, a "k" key in a map, no ops at all) decode as json.Unmarshal
// decodes them; an entry without "ops" gives no ops either way.
func TestDecodeSizesOpsAsJSONDoes(t *testing.T) {
	for _, entry := range []string{
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"assign_task","id":"t1","node":"n1","m":"assigned"},{"k":"set_desired_state","id":"t2","d":"shutdown"}]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"task_status","r":{"TaskID":"t1","Status":{"State":"running"}}}]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"create_task","T":{"ID":"t1","ServiceID":"s","Spec":{}}}]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"node_spec","id":"n1","nspec":{"Labels":{"k":"v"}}}]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"create_task","t":{"ID":"t1","ServiceID":"s","Spec":{}}},{"k":"assign_task","id":"t1"}]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":null}`,
		`{"time":"2026-01-01T00:00:00Z"}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"assign_task","id":1}]}`,
		`{"time":"2026-01-01T00:00:00Z","ops":[{"k":"assign_task"}],"ops":[{"k":"delete_task","id":"t"},{"k":"delete_task","id":"u"}]}`,
	} {
		var want, got Command
		werr := json.Unmarshal([]byte(entry), &want)
		gerr := decodeCommand([]byte(entry), &got, &specCache{})
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: json.Unmarshal: %v, decodeCommand: %v", entry, werr, gerr)
		}
		if len(want.Ops) == 0 && len(got.Ops) == 0 {
			want.Ops, got.Ops = nil, nil
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got  %+v\n want %+v", entry, got, want)
		}
	}
}
