package compose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// Type checks of the values the compose-spec schema lets through as
// strings (so that ${VAR} can fill them) but compose-go reads as numbers
// or booleans. compose-go stops at the first one it can't read (while
// interpolating, or decoding), and reads nothing else; checked here, every
// one of them is listed with the schema's problems, each at its key.

type castKind int

const (
	castInt   castKind = iota // any integer
	castUint                  // an integer, 0 or more
	castFloat                 // a number
	castBool                  // true, false (or YAML 1.1's yes, no, on, off, y, n)
	castBytes                 // a size: 512, "512m", "1g"
)

// serviceCasts are the typed keys of a service that a stack uses ("*"
// matches every entry of a list or a mapping).
var serviceCasts = []struct {
	key  string
	kind castKind
}{
	{"scale", castInt}, {"deploy.replicas", castInt},
	{"deploy.update_config.parallelism", castUint}, {"deploy.update_config.max_failure_ratio", castFloat},
	{"deploy.rollback_config.parallelism", castUint}, {"deploy.rollback_config.max_failure_ratio", castFloat},
	{"deploy.restart_policy.max_attempts", castUint}, {"deploy.placement.max_replicas_per_node", castUint},
	{"deploy.resources.limits.cpus", castFloat}, {"deploy.resources.limits.memory", castBytes},
	{"deploy.resources.reservations.cpus", castFloat}, {"deploy.resources.reservations.memory", castBytes},
	{"healthcheck.retries", castUint}, {"healthcheck.disable", castBool},
	{"init", castBool}, {"read_only", castBool}, {"tty", castBool},
	{"ports.*.target", castUint}, {"volumes.*.read_only", castBool},
	{"networks.*.use_service_name_alias", castBool},
	{"ulimits.*", castInt}, {"ulimits.*.soft", castInt}, {"ulimits.*.hard", castInt},
}

// typeProblems checks the typed keys of one file's model.
func typeProblems(v any) []problem {
	var out []problem
	check := func(base []string, key string, kind castKind, root any) {
		for _, m := range matchKey(root, strings.Split(key, ".")) {
			if msg := castProblem(m.value, kind); msg != "" {
				segs := append(append([]string{}, base...), m.segs...)
				out = append(out, problem{segs, fmt.Sprintf("%s %s", pathString(segs), msg)})
			}
		}
	}
	services, _ := valueAt(v, []string{"services"}).(map[string]any)
	for _, name := range sortedNames(services) {
		for _, c := range serviceCasts {
			check([]string{"services", name}, c.key, c.kind, services[name])
		}
	}
	for _, key := range []string{"networks.*.external", "networks.*.internal", "networks.*.attachable",
		"volumes.*.external", "configs.*.external", "secrets.*.external"} {
		check(nil, key, castBool, v)
	}
	return out
}

type keyMatch struct {
	segs  []string
	value any
}

// matchKey finds the values at a key path, "*" matching every entry of a
// list or mapping, in a stable order.
func matchKey(v any, key []string) []keyMatch {
	if len(key) == 0 {
		return []keyMatch{{nil, v}}
	}
	var out []keyMatch
	follow := func(seg string, sub any) {
		for _, m := range matchKey(sub, key[1:]) {
			out = append(out, keyMatch{append([]string{seg}, m.segs...), m.value})
		}
	}
	switch t := v.(type) {
	case map[string]any:
		if key[0] != "*" {
			if sub, ok := t[key[0]]; ok {
				follow(key[0], sub)
			}
			break
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			follow(k, t[k])
		}
	case []any:
		if key[0] == "*" {
			for i, e := range t {
				follow(strconv.Itoa(i), e)
			}
		}
	}
	return out
}

// castProblem says what is wrong with a value compose-go reads as kind, or
// "". A value the schema refuses anyway (a list, a mapping) and one still
// holding a ${VAR} are left alone.
func castProblem(v any, kind castKind) string {
	s, isString := v.(string)
	if isString && strings.Contains(s, "$") {
		return ""
	}
	switch kind {
	case castInt, castUint:
		n, ok := v.(int)
		if isString {
			var err error
			n, err = strconv.Atoi(s)
			ok = err == nil
		}
		switch {
		case !ok && (isString || isNumber(v)):
			return fmt.Sprintf("must be an integer, not %s", show(v))
		case ok && kind == castUint && n < 0:
			return fmt.Sprintf("must not be negative (got %d)", n)
		}
	case castFloat:
		if isString {
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return fmt.Sprintf("must be a number, not %s", show(v))
			}
		}
	case castBool:
		if isString {
			switch strings.ToLower(s) {
			case "true", "false", "y", "yes", "on", "n", "no", "off":
			default:
				return fmt.Sprintf("must be true or false, not %s", show(v))
			}
		}
	case castBytes:
		if isString {
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				if _, err := units.RAMInBytes(s); err != nil {
					return fmt.Sprintf("must be a size such as 512m or 1g, not %s", show(v))
				}
			}
		}
	}
	return ""
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, float64:
		return true
	}
	return false
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
