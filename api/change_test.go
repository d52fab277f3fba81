package api

import (
	"reflect"
	"strings"
	"testing"
)

// leafVariants returns, for every leaf field reachable from type t
// (through structs, pointers, slices and maps), a value of type t in
// which only that leaf is set, keyed by the leaf's path.
func leafVariants(t reflect.Type, path string) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	switch t.Kind() {
	case reflect.Struct:
		if t.NumField() == 0 {
			out[path] = reflect.New(t).Elem()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			for p, v := range leafVariants(f.Type, path+"."+f.Name) {
				s := reflect.New(t).Elem()
				s.Field(i).Set(v)
				out[p] = s
			}
		}
	case reflect.Pointer:
		for p, v := range leafVariants(t.Elem(), path) {
			ptr := reflect.New(t.Elem())
			ptr.Elem().Set(v)
			out[p] = ptr
		}
	case reflect.Slice:
		for p, v := range leafVariants(t.Elem(), path+"[]") {
			out[p] = reflect.Append(reflect.MakeSlice(t, 0, 1), v)
		}
	case reflect.Map:
		for p, v := range leafVariants(t.Elem(), path+"[k]") {
			m := reflect.MakeMap(t)
			m.SetMapIndex(reflect.ValueOf("k").Convert(t.Key()), v)
			out[p] = m
		}
	case reflect.String:
		out[path] = reflect.ValueOf("x").Convert(t)
	case reflect.Bool:
		out[path] = reflect.ValueOf(true).Convert(t)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		out[path] = reflect.ValueOf(int64(7)).Convert(t)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out[path] = reflect.ValueOf(uint64(7)).Convert(t)
	case reflect.Float32, reflect.Float64:
		out[path] = reflect.ValueOf(0.5).Convert(t)
	default:
		panic("leafVariants: no value for " + path + " of kind " + t.Kind().String())
	}
	return out
}

// TestDescribeChangeNamesEveryField changes each leaf field of a service
// spec alone, found by reflection over the spec's types, and checks that
// the change summary names the field: a field added to the spec (or to
// the task template or container spec) cannot be left out of the plan and
// `service history`. It names the fields explicitly too.
func TestDescribeChangeNamesEveryField(t *testing.T) {
	// Fields whose summary is not their own name in words.
	renamed := map[string]string{
		"Dir":                  "workdir",
		"StopSignal":           "stop",
		"StopGracePeriod":      "stop",
		"ForceUpdate":          "force",
		"Mode":                 "replicas",
		"EndpointSpec":         "ports",
		"ContainerSpec.Labels": "container labels",
	}
	variants := leafVariants(reflect.TypeOf(ServiceSpec{}), "")
	if len(variants) < 60 {
		t.Fatalf("only %d leaf fields found: the walk is broken", len(variants))
	}
	for path, v := range variants {
		after := v.Interface().(ServiceSpec)
		got := DescribeChange(&ServiceSpec{}, &after)
		// The part that names the change: the first field below the task
		// template and container spec.
		segs := strings.Split(strings.TrimPrefix(path, "."), ".")
		unit := segs[0]
		for len(segs) > 1 && (unit == "TaskTemplate" || unit == "ContainerSpec") {
			segs = segs[1:]
			unit = strings.TrimSuffix(strings.TrimSuffix(segs[0], "[]"), "[k]")
		}
		unit = strings.TrimSuffix(strings.TrimSuffix(unit, "[]"), "[k]")
		want := renamed[unit]
		if strings.Contains(path, "ContainerSpec.Labels") {
			want = renamed["ContainerSpec.Labels"]
		}
		if want == "" {
			want = words(unit)
		}
		if got != want {
			t.Errorf("changing %s: summary %q, want %q", path, got, want)
		}
	}

	for field, want := range map[string]string{
		"LogDriver": "log driver", "Hostname": "hostname", "Init": "init", "ReadOnly": "read only",
		"CapAdd": "cap add", "CapDrop": "cap drop", "Sysctls": "sysctls", "Ulimits": "ulimits",
		"Hosts": "hosts", "DNSConfig": "dns config",
	} {
		if words(field) != want {
			t.Errorf("field %s reads %q, want %q", field, words(field), want)
		}
	}
}

// TestDescribeChangeOrderAndNoChange: the well-known parts come first in
// their usual order, then the others in the spec's order (the task's
// before the service's); a name is listed once; and equal specs (nil and empty
// collections alike) are "no change".
func TestDescribeChangeOrderAndNoChange(t *testing.T) {
	before := ServiceSpec{Name: "web", TaskTemplate: TaskSpec{ContainerSpec: ContainerSpec{Env: []string{}}}}
	after := ServiceSpec{Name: "web", Labels: map[string]string{"a": "b"}}
	after.TaskTemplate.ContainerSpec.Env = []string{"A=1"}
	after.TaskTemplate.ContainerSpec.StopSignal = "SIGINT"
	after.TaskTemplate.ContainerSpec.StopGracePeriod = new(Duration)
	after.TaskTemplate.ContainerSpec.Hostname = "web1"
	after.TaskTemplate.LogDriver = &Driver{Name: "json-file"}
	if got, want := DescribeChange(&before, &after), "env, labels, stop, hostname, log driver"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	same := ServiceSpec{Name: "web"}
	if got := DescribeChange(&before, &same); got != "no change" {
		t.Errorf("nil and empty env: summary %q, want no change", got)
	}
	init := false
	withInit := ServiceSpec{Name: "web"}
	withInit.TaskTemplate.ContainerSpec.Init = &init
	if got := DescribeChange(&same, &withInit); got != "init" {
		t.Errorf("init set to false: summary %q, want init", got)
	}
}
