package compose

import (
	"strings"

	"github.com/shoalproject/shoal/api"
)

// Placing the managers' validation problems. ServiceSpec.Validate names
// each problem's spec field (api.FieldError.Path: "UpdateConfig.Order",
// "EndpointSpec.Ports.2.Protocol"); the stack file has keys instead. A
// field maps to its key by the table below, except the entries of lists
// the converter builds in its own order (or leaves entries out of): the
// converter records where each came from (origins).

// origins maps the spec path of a list entry ("TaskTemplate.ContainerSpec.
// Mounts.1") to the compose path of the entry it was made from
// (services.web.tmpfs.0).
type origins map[string][]string

func (o origins) set(path []string, segs []string) {
	o[strings.Join(path, ".")] = append([]string(nil), segs...)
}

// specKeys maps a spec field to its key under the service, for the fields
// a stack file sets. A longer match wins; what follows the match (a map
// key, a list index) is kept as is.
var specKeys = map[string]string{
	"Name":                                                 "",
	"Labels":                                               "deploy.labels",
	"Mode":                                                 "deploy.mode",
	"Mode.Replicated.Replicas":                             "deploy.replicas",
	"Mode.ReplicatedJob":                                   "deploy.replicas",
	"TaskTemplate.ContainerSpec.Image":                     "image",
	"TaskTemplate.ContainerSpec.Labels":                    "labels",
	"TaskTemplate.ContainerSpec.Command":                   "entrypoint",
	"TaskTemplate.ContainerSpec.Args":                      "command",
	"TaskTemplate.ContainerSpec.Hostname":                  "hostname",
	"TaskTemplate.ContainerSpec.Env":                       "environment",
	"TaskTemplate.ContainerSpec.Dir":                       "working_dir",
	"TaskTemplate.ContainerSpec.User":                      "user",
	"TaskTemplate.ContainerSpec.StopSignal":                "stop_signal",
	"TaskTemplate.ContainerSpec.StopGracePeriod":           "stop_grace_period",
	"TaskTemplate.ContainerSpec.Healthcheck":               "healthcheck",
	"TaskTemplate.ContainerSpec.Healthcheck.Test":          "healthcheck.test",
	"TaskTemplate.ContainerSpec.Healthcheck.Interval":      "healthcheck.interval",
	"TaskTemplate.ContainerSpec.Healthcheck.Timeout":       "healthcheck.timeout",
	"TaskTemplate.ContainerSpec.Healthcheck.StartPeriod":   "healthcheck.start_period",
	"TaskTemplate.ContainerSpec.Healthcheck.StartInterval": "healthcheck.start_interval",
	"TaskTemplate.ContainerSpec.Healthcheck.Retries":       "healthcheck.retries",
	"TaskTemplate.ContainerSpec.Configs":                   "configs",
	"TaskTemplate.ContainerSpec.Secrets":                   "secrets",
	"TaskTemplate.ContainerSpec.Mounts":                    "volumes",
	"TaskTemplate.ContainerSpec.CapAdd":                    "cap_add",
	"TaskTemplate.ContainerSpec.CapDrop":                   "cap_drop",
	"TaskTemplate.ContainerSpec.Sysctls":                   "sysctls",
	"TaskTemplate.ContainerSpec.Ulimits":                   "ulimits",
	"TaskTemplate.ContainerSpec.Hosts":                     "extra_hosts",
	"TaskTemplate.ContainerSpec.DNSConfig.Nameservers":     "dns",
	"TaskTemplate.ContainerSpec.DNSConfig.Search":          "dns_search",
	"TaskTemplate.ContainerSpec.DNSConfig.Options":         "dns_opt",
	"TaskTemplate.ContainerSpec.Init":                      "init",
	"TaskTemplate.ContainerSpec.ReadOnly":                  "read_only",
	"TaskTemplate.ContainerSpec.TTY":                       "tty",
	"TaskTemplate.Resources":                               "deploy.resources",
	"TaskTemplate.Resources.Limits":                        "deploy.resources.limits",
	"TaskTemplate.Resources.Reservations":                  "deploy.resources.reservations",
	"TaskTemplate.RestartPolicy":                           "deploy.restart_policy",
	"TaskTemplate.RestartPolicy.Condition":                 "deploy.restart_policy.condition",
	"TaskTemplate.RestartPolicy.Delay":                     "deploy.restart_policy.delay",
	"TaskTemplate.RestartPolicy.Window":                    "deploy.restart_policy.window",
	"TaskTemplate.RestartPolicy.MaxAttempts":               "deploy.restart_policy.max_attempts",
	"TaskTemplate.Placement":                               "deploy.placement",
	"TaskTemplate.Placement.Constraints":                   "deploy.placement.constraints",
	"TaskTemplate.Placement.Preferences":                   "deploy.placement.preferences",
	"TaskTemplate.Placement.MaxReplicas":                   "deploy.placement.max_replicas_per_node",
	"TaskTemplate.Networks":                                "networks",
	"TaskTemplate.LogDriver":                               "logging",
	"TaskTemplate.LogDriver.Name":                          "logging.driver",
	"TaskTemplate.LogDriver.Options":                       "logging.options",
	"EndpointSpec":                                         "ports",
	"EndpointSpec.Mode":                                    "deploy.endpoint_mode",
	"EndpointSpec.Ports":                                   "ports",
}

func init() {
	for spec, key := range map[string]string{"UpdateConfig": "update_config", "RollbackConfig": "rollback_config"} {
		specKeys[spec] = "deploy." + key
		for field, sub := range map[string]string{"Parallelism": "parallelism", "Delay": "delay", "FailureAction": "failure_action",
			"Monitor": "monitor", "MaxFailureRatio": "max_failure_ratio", "Order": "order"} {
			specKeys[spec+"."+field] = "deploy." + key + "." + sub
		}
	}
}

// entryKeys maps a field of a list entry (a mount, a port, a config
// reference, a network attachment) to its key in the entry's long
// syntax.
var entryKeys = map[string]string{
	"Source": "source", "Target": "target", "VolumeLabels": "volume.labels",
	"TargetPort": "target", "PublishedPort": "published", "Protocol": "protocol", "PublishMode": "mode",
	"ConfigName": "source", "SecretName": "source", "File.Name": "target", "File.UID": "uid", "File.GID": "gid",
	"Aliases": "aliases", "Spread": "spread",
}

// composePath returns the compose path (from services.NAME, base) of the
// key that set the spec field at path.
func (o origins) composePath(base, path []string) []string {
	out := append([]string(nil), base...)
	for k := len(path); k > 0; k-- {
		segs, ok := o[strings.Join(path[:k], ".")]
		if !ok {
			continue
		}
		out = append([]string(nil), segs...)
		rest := path[k:]
		for j := len(rest); j > 0; j-- {
			if key, ok := entryKeys[strings.Join(rest[:j], ".")]; ok {
				out = append(out, strings.Split(key, ".")...)
				return append(out, rest[j:]...)
			}
		}
		return out
	}
	for k := len(path); k > 0; k-- {
		key, ok := specKeys[strings.Join(path[:k], ".")]
		if !ok {
			continue
		}
		if key != "" {
			out = append(out, strings.Split(key, ".")...)
		}
		return append(out, path[k:]...)
	}
	return out
}

// validate runs the managers' validation of a service's spec, each
// problem placed at the key that set the field. It runs even when the
// mapping found problems, so every problem is listed; a mapping check
// leaves out the value it refused, so none is said twice.
func (c *converter) validate(spec *api.ServiceSpec, o origins, base []string) {
	fields, other := api.FieldErrors(spec.Validate())
	efields, eother := api.FieldErrors(spec.EndpointSpec.ValidateEndpoint())
	for _, fe := range append(fields, efields...) {
		c.l.fail(c.l.at(o.composePath(base, fe.Path), "%s", fe.Msg))
	}
	for _, e := range append(other, eother...) {
		c.l.fail(c.l.at(base, "service %s: %v", spec.Name, e))
	}
}
