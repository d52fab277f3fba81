package compose

import (
	"sort"
	"strings"
)

// What of a compose file a stack uses. docker stack deploy warns about the
// options Swarm ignores ("Ignoring unsupported options: build, restart"),
// and about deprecated ones, and refuses a few; so does Load. Options
// compose-spec added since the version 3 format that shoal has no field for
// are listed as unsupported too, nested ones by their dotted path
// ("deploy.resources.limits.pids").

// keySpec says which keys of a mapping are used: all means the whole
// value is; a nested spec checks the keys below; "*" matches any key (a
// user-defined name); "[]" applies to each mapping in a list.
type keySpec map[string]any

const all = true

var serviceKeys = keySpec{
	"image": all, "command": all, "entrypoint": all,
	"environment": all, "env_file": all, "labels": all, "label_file": all,
	"user": all, "working_dir": all, "hostname": all,
	"stop_signal": all, "stop_grace_period": all, "healthcheck": all,
	"configs": all, "secrets": all,
	"ports":    keySpec{"[]": keySpec{"target": all, "published": all, "protocol": all, "mode": all, "name": all}},
	"networks": keySpec{"*": keySpec{"aliases": all, "use_service_name_alias": all}},
	"volumes": keySpec{"[]": keySpec{
		"type": all, "source": all, "target": all, "read_only": all,
		"volume": keySpec{"labels": all},
		"tmpfs":  keySpec{"size": all, "mode": all},
	}},
	"tmpfs": all, "logging": all, "init": all, "read_only": all, "tty": all,
	"cap_add": all, "cap_drop": all, "sysctls": all, "ulimits": all,
	"extra_hosts": all, "dns": all, "dns_search": all, "dns_opt": all,
	// extends is resolved by compose-go; scale is deploy.replicas.
	"extends": all, "scale": all,
	"deploy": keySpec{
		"mode": all, "replicas": all, "labels": all, "endpoint_mode": all,
		"placement": all, "restart_policy": all,
		"update_config": all, "rollback_config": all,
		"resources": keySpec{
			"limits":       keySpec{"cpus": all, "memory": all},
			"reservations": keySpec{"cpus": all, "memory": all},
		},
	},
}

var networkKeys = keySpec{
	"name": all, "external": all, "driver": all, "labels": all, "attachable": all, "internal": all,
	"ipam": keySpec{"config": keySpec{"[]": keySpec{"subnet": all, "gateway": all}}},
}

var topKeys = keySpec{
	"version": all, "name": all, "include": all,
	"services": keySpec{"*": serviceKeys},
	"networks": keySpec{"*": networkKeys},
	"volumes":  keySpec{"*": keySpec{"name": all, "external": all, "labels": all}},
	"configs":  keySpec{"*": keySpec{"name": all, "external": all, "labels": all, "file": all, "environment": all, "content": all}},
	"secrets":  keySpec{"*": keySpec{"name": all, "external": all, "labels": all, "file": all, "environment": all}},
}

// deprecatedKeys are service options docker stack deploy ignores with a
// "deprecated" warning.
var deprecatedKeys = map[string]bool{"container_name": true, "expose": true}

// forbiddenKeys are service options docker stack deploy refuses, with its
// advice.
var forbiddenKeys = map[string]string{
	"volume_driver": "Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.",
	"volumes_from":  "To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.",
	"cpu_quota":     "Set resource limits using deploy.resources",
	"cpu_shares":    "Set resource limits using deploy.resources",
	"cpuset":        "Set resource limits using deploy.resources",
	"mem_limit":     "Set resource limits using deploy.resources",
	"memswap_limit": "Set resource limits using deploy.resources",
}

// checkKeys looks at the keys of every file: forbidden service options are
// errors; unsupported and deprecated ones give one warning line each.
func (l *loadState) checkKeys() {
	l.unsupported = map[string]bool{}
	l.deprecated = map[string]bool{}
	unsupported, deprecated := l.unsupported, l.deprecated
	type forbidden struct {
		segs []string
		key  string
	}
	var refused []forbidden
	refusedSeen := map[string]bool{}
	for _, f := range l.files {
		for _, d := range f.docs {
			v, ok := nodeValue(d)
			if !ok {
				continue
			}
			top, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if svcs, ok := top["services"].(map[string]any); ok {
				for name, s := range svcs {
					svc, ok := s.(map[string]any)
					if !ok {
						continue
					}
					for k := range svc {
						if deprecatedKeys[k] {
							deprecated[k] = true
						}
						if _, bad := forbiddenKeys[k]; bad && !refusedSeen[name+"\x00"+k] {
							refusedSeen[name+"\x00"+k] = true
							refused = append(refused, forbidden{[]string{"services", name, k}, k})
						}
					}
				}
			}
			walkKeys(top, topKeys, nil, func(p []string) {
				// A service's own options are reported by their name, the
				// way docker does; others by their path.
				if len(p) > 2 && p[0] == "services" {
					p = p[2:]
				}
				name := strings.Join(p, ".")
				if len(p) == 1 && (deprecatedKeys[name] || forbiddenKeys[name] != "") {
					return
				}
				unsupported[name] = true
			})
		}
	}
	sort.Slice(refused, func(i, j int) bool {
		return strings.Join(refused[i].segs, "\x00") < strings.Join(refused[j].segs, "\x00")
	})
	for _, r := range refused {
		l.fail(l.at(r.segs, "option %s is not supported by swarm stacks: %s", r.key, forbiddenKeys[r.key]))
	}
}

// walkKeys calls report with the path (with "*" and list levels left out
// of the user-defined names) of every key of v that spec does not use.
func walkKeys(v any, spec keySpec, path []string, report func([]string)) {
	if list, ok := v.([]any); ok {
		sub, ok := spec["[]"].(keySpec)
		if !ok {
			return
		}
		for _, e := range list {
			walkKeys(e, sub, path, report)
		}
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if sub, ok := spec["*"].(keySpec); ok {
		for k, e := range m {
			if strings.HasPrefix(k, "x-") {
				continue
			}
			p := path
			if len(path) == 1 && path[0] == "services" {
				// Keep the service name; checkKeys drops it.
				p = append(append([]string{}, path...), k)
			}
			walkKeys(e, sub, p, report)
		}
		return
	}
	if _, ok := spec["[]"]; ok {
		// A list given as a mapping (networks: {a: …} is the usual form);
		// nothing to check below.
		return
	}
	for k, e := range m {
		if strings.HasPrefix(k, "x-") {
			continue
		}
		p := append(append([]string{}, path...), k)
		switch s := spec[k].(type) {
		case bool:
		case keySpec:
			walkKeys(e, s, p, report)
		default:
			report(p)
		}
	}
}

func sortedKeys(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}
