package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// changeNames are the names DescribeChange gives to fields of a service
// spec, by their Go path, where the field's own name reads badly. A field
// not listed is named after itself ("LogDriver" reads "log driver"); a
// non-pointer struct field not listed is walked into, its fields named
// one by one.
var changeNames = map[string]string{
	"Labels":                                     "labels",
	"TaskTemplate.ContainerSpec.Labels":          "container labels",
	"TaskTemplate.ContainerSpec.Dir":             "workdir",
	"TaskTemplate.ContainerSpec.StopSignal":      "stop",
	"TaskTemplate.ContainerSpec.StopGracePeriod": "stop",
	"TaskTemplate.RestartPolicy":                 "restart policy",
	"TaskTemplate.ForceUpdate":                   "force",
	"Mode":                                       "replicas",
	"EndpointSpec":                               "ports",
}

// changeOrder is the order in which DescribeChange lists the parts users
// look for first; the other parts follow in the spec's order.
var changeOrder = []string{
	"image", "command", "args", "env", "labels", "container labels", "user", "workdir",
	"healthcheck", "stop", "configs", "secrets", "mounts", "replicas", "restart policy",
	"placement", "resources", "networks", "ports", "update config", "rollback config", "force",
}

// DescribeChange names the parts of a service spec that differ between
// before and after, for the service's history and a stack's plan
// ("image, env, replicas"). It walks the spec's structure by reflection,
// so a field added to the spec is named without a change here.
func DescribeChange(before, after *ServiceSpec) string {
	var changed []string
	seen := map[string]bool{}
	describeFields(reflect.ValueOf(*before), reflect.ValueOf(*after), "", func(name string) {
		if !seen[name] {
			seen[name] = true
			changed = append(changed, name)
		}
	})
	if len(changed) == 0 {
		return "no change"
	}
	rank := func(name string) int {
		if i := slices.Index(changeOrder, name); i >= 0 {
			return i
		}
		return len(changeOrder)
	}
	slices.SortStableFunc(changed, func(x, y string) int { return rank(x) - rank(y) })
	return strings.Join(changed, ", ")
}

// describeFields reports, through add, the name of every field of the
// structs b and a (of one type) that differs. Nested structs come first,
// so that what a task runs is named before how the service runs it.
func describeFields(b, a reflect.Value, prefix string, add func(string)) {
	t := b.Type()
	for _, nested := range []bool{true, false} {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			path := prefix + f.Name
			name, named := changeNames[path]
			walk := f.Type.Kind() == reflect.Struct && !named
			if walk != nested {
				continue
			}
			if walk {
				describeFields(b.Field(i), a.Field(i), path+".", add)
				continue
			}
			if !named {
				name = words(f.Name)
			}
			if !sameJSON(b.Field(i).Interface(), a.Field(i).Interface()) {
				add(name)
			}
		}
	}
}

// words turns a Go name into lower-case words: "DNSConfig" reads
// "dns config", "CapAdd" "cap add".
func words(name string) string {
	rs := []rune(name)
	var out []rune
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			out = append(out, ' ')
		}
		out = append(out, unicode.ToLower(r))
	}
	return string(out)
}

// sameJSON compares two values by their JSON form, so nil and empty
// collections (which a trip through the Raft log conflates) are equal.
func sameJSON(x, y any) bool {
	a, _ := json.Marshal(x)
	b, _ := json.Marshal(y)
	return normalizeEmpty(string(a)) == normalizeEmpty(string(b))
}

func normalizeEmpty(s string) string {
	switch s {
	case "null", "[]", "{}":
		return ""
	}
	return s
}
