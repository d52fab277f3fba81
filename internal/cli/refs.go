package cli

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoalproject/shoal/api"
)

// fileRef is a parsed --secret or --config value.
type fileRef struct {
	Name string
	File api.FileTarget
}

// parseFileRef reads a --secret/--config value as the docker CLI does:
// "NAME", or CSV fields "source=NAME[,target=PATH][,uid=U][,gid=G][,mode=M]"
// ("src" for "source"). The target defaults to /run/secrets/NAME for a
// secret and /NAME for a config; mode is octal ("0400" or "400").
func parseFileRef(flag, kind, s string) (fileRef, error) {
	bad := func(why string) (fileRef, error) {
		return fileRef{}, fmt.Errorf("invalid --%s %q: %s", flag, s, why)
	}
	var r fileRef
	if !strings.Contains(s, "=") {
		r.Name = strings.TrimSpace(s)
	} else {
		for _, field := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(field, "=")
			if !ok {
				return bad("want source=NAME[,target=PATH][,uid=UID][,gid=GID][,mode=MODE]")
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "source", "src":
				r.Name = v
			case "target":
				if v == "" {
					return bad("empty target")
				}
				r.File.Name = v
			case "uid":
				r.File.UID = v
			case "gid":
				r.File.GID = v
			case "mode":
				m, err := strconv.ParseUint(strings.TrimPrefix(v, "0o"), 8, 32)
				if err != nil || m > 0o7777 {
					return bad(fmt.Sprintf("mode %q is not an octal file mode such as 0400", v))
				}
				r.File.Mode = uint32(m)
			default:
				return bad(fmt.Sprintf("unknown field %q", k))
			}
		}
	}
	if r.Name == "" {
		return bad("missing source")
	}
	if r.File.Name == "" {
		if kind == "secret" {
			r.File.Name = path.Join("/run/secrets", r.Name)
		} else {
			r.File.Name = "/" + r.Name
		}
	}
	return r, nil
}

// secretRefs parses --secret values.
func secretRefs(flag string, in []string) ([]api.SecretReference, error) {
	var out []api.SecretReference
	for _, s := range in {
		r, err := parseFileRef(flag, "secret", s)
		if err != nil {
			return nil, err
		}
		f := r.File
		out = append(out, api.SecretReference{SecretName: r.Name, File: &f})
	}
	return out, nil
}

// configRefs parses --config values.
func configRefs(flag string, in []string) ([]api.ConfigReference, error) {
	var out []api.ConfigReference
	for _, s := range in {
		r, err := parseFileRef(flag, "config", s)
		if err != nil {
			return nil, err
		}
		f := r.File
		out = append(out, api.ConfigReference{ConfigName: r.Name, File: &f})
	}
	return out, nil
}

// refTarget is the file a secret or config lands in ("" if unset).
func refTarget(f *api.FileTarget) string {
	if f == nil {
		return ""
	}
	return f.Name
}

// mergeSecrets removes the secrets named in rm, then adds add: an added
// reference replaces one with the same name and target; two secrets with
// the same target are refused.
func mergeSecrets(flag string, cur []api.SecretReference, rm []string, add []api.SecretReference) ([]api.SecretReference, error) {
	return mergeRefs(flag, "secret", cur, rm, add, func(r api.SecretReference) (string, *api.FileTarget) { return r.SecretName, r.File })
}

// mergeConfigs is mergeSecrets for configs.
func mergeConfigs(flag string, cur []api.ConfigReference, rm []string, add []api.ConfigReference) ([]api.ConfigReference, error) {
	return mergeRefs(flag, "config", cur, rm, add, func(r api.ConfigReference) (string, *api.FileTarget) { return r.ConfigName, r.File })
}

// mergeRefs is mergeSecrets and mergeConfigs: parts returns a reference's
// object name and file.
func mergeRefs[R any](flag, kind string, cur []R, rm []string, add []R, parts func(R) (string, *api.FileTarget)) ([]R, error) {
	drop := setOf(rm)
	var out []R
	for _, r := range cur {
		if name, _ := parts(r); !drop[name] {
			out = append(out, r)
		}
	}
next:
	for _, a := range add {
		aName, aFile := parts(a)
		for i, r := range out {
			rName, rFile := parts(r)
			if refTarget(rFile) == refTarget(aFile) {
				if rName != aName {
					return nil, fmt.Errorf("invalid --%s %q: %s %q already uses target %s", flag, aName, kind, rName, refTarget(aFile))
				}
				out[i] = a
				continue next
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func setOf(in []string) map[string]bool {
	m := make(map[string]bool, len(in))
	for _, s := range in {
		m[strings.TrimSpace(s)] = true
	}
	return m
}

// updateConfigFlags are the docker CLI's --update-* (or --rollback-*)
// flags.
type updateConfigFlags struct {
	prefix          string // "update" or "rollback"
	parallelism     uint64
	delay           time.Duration
	monitor         time.Duration
	failureAction   string
	maxFailureRatio float32
	order           string
}

func (u *updateConfigFlags) add(fs *pflag.FlagSet, prefix string) {
	u.prefix = prefix
	verb, actions := "updated", `"pause", "continue", "rollback"`
	if prefix == "rollback" {
		verb, actions = "rolled back", `"pause", "continue"`
	}
	fs.Uint64Var(&u.parallelism, prefix+"-parallelism", api.DefaultUpdateParallel, fmt.Sprintf("maximum number of tasks %s at once (0 for all at once)", verb))
	fs.DurationVar(&u.delay, prefix+"-delay", 0, fmt.Sprintf("delay between batches of tasks %s (default 0s)", verb))
	fs.DurationVar(&u.monitor, prefix+"-monitor", 0, fmt.Sprintf("time after each task is %s to watch it for failure (default %s)", verb, api.DefaultUpdateMonitor))
	fs.StringVar(&u.failureAction, prefix+"-failure-action", "", fmt.Sprintf("action on %s failure (%s) (default \"pause\")", prefix, actions))
	fs.Float32Var(&u.maxFailureRatio, prefix+"-max-failure-ratio", 0, fmt.Sprintf("fraction of tasks that may fail during the %s (0 to 1)", prefix))
	fs.StringVar(&u.order, prefix+"-order", "", fmt.Sprintf("%s order (\"start-first\", \"stop-first\") (default \"stop-first\")", prefix))
}

func (u *updateConfigFlags) names() []string {
	return []string{u.prefix + "-parallelism", u.prefix + "-delay", u.prefix + "-monitor", u.prefix + "-failure-action", u.prefix + "-max-failure-ratio", u.prefix + "-order"}
}

// changed reports whether any of the flags was given.
func (u *updateConfigFlags) changed(fs *pflag.FlagSet) bool {
	for _, n := range u.names() {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

// apply sets the flags given on top of cfg (which may be nil; a new config
// starts with parallelism 1, as 0 would mean all at once) and returns the
// result.
func (u *updateConfigFlags) apply(cmd *cobra.Command, cfg *api.UpdateConfig) (*api.UpdateConfig, error) {
	fs := cmd.Flags()
	if !u.changed(fs) {
		return cfg, nil
	}
	out := api.UpdateConfig{Parallelism: api.DefaultUpdateParallel}
	if cfg != nil {
		out = *cfg
	}
	p := u.prefix
	if fs.Changed(p + "-parallelism") {
		out.Parallelism = u.parallelism
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *api.Duration
	}{{p + "-delay", u.delay, &out.Delay}, {p + "-monitor", u.monitor, &out.Monitor}} {
		if fs.Changed(d.flag) {
			if d.v < 0 {
				return nil, usagef(cmd, "invalid --%s %s: must not be negative", d.flag, d.v)
			}
			*d.dst = api.Duration(d.v)
		}
	}
	if fs.Changed(p + "-failure-action") {
		switch a := u.failureAction; {
		case a == api.FailureActionPause || a == api.FailureActionContinue:
		case a == api.FailureActionRollback && p == "update":
		default:
			if p == "rollback" {
				return nil, usagef(cmd, "invalid --%s-failure-action %q: want pause or continue", p, a)
			}
			return nil, usagef(cmd, "invalid --%s-failure-action %q: want pause, continue or rollback", p, a)
		}
		out.FailureAction = u.failureAction
	}
	if fs.Changed(p + "-max-failure-ratio") {
		if r := u.maxFailureRatio; r < 0 || r > 1 || r != r {
			return nil, usagef(cmd, "invalid --%s-max-failure-ratio %v: want a number from 0 to 1", p, r)
		}
		out.MaxFailureRatio = u.maxFailureRatio
	}
	if fs.Changed(p + "-order") {
		if o := u.order; o != api.UpdateOrderStopFirst && o != api.UpdateOrderStartFirst {
			return nil, usagef(cmd, "invalid --%s-order %q: want stop-first or start-first", p, o)
		}
		out.Order = u.order
	}
	return &out, nil
}
