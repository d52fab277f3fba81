package cli

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	shellwords "github.com/mattn/go-shellwords"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoalproject/shoal/api"
)

// containerFlags are the docker CLI's service flags for what a container
// runs with, which `service create` and `service update` share: create
// sets a list (--dns), update adds to and removes from it (--dns-add,
// --dns-rm). Process tasks ignore them, as they do the same compose keys.
type containerFlags struct {
	update         bool
	init, readOnly bool
	tty            bool
	capAdd         []string
	capDrop        []string
	ulimits        []string
	ulimitRm       []string
	dns, dnsRm     []string
	search         []string
	searchRm       []string
	options        []string
	optionsRm      []string
	sysctls        []string
	sysctlRm       []string
	logDriver      string
	logOpts        []string
	envFiles       []string
	networkAdd     []string
	networkRm      []string
	mountAdd       []string
	mountRm        []string
	entrypoint     string
	hosts, hostRm  []string
	registryAuth   bool
	noResolveImage bool
}

// add adds the flags to fs; update picks `service update`'s names.
func (f *containerFlags) add(fs *pflag.FlagSet, update bool) {
	f.update = update
	fs.BoolVar(&f.init, "init", false, "run an init inside each container that forwards signals and reaps processes")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the container's root filesystem as read only")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "add a Linux capability")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop a Linux capability")
	fs.StringVar(&f.logDriver, "log-driver", "", "logging driver for the service (kept on the spec: shoal's runtimes keep their own logs)")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "logging driver option (KEY=VALUE)")
	fs.BoolVar(&f.registryAuth, "with-registry-auth", false, "accepted for docker's scripts: shoal sends no registry credentials; each node pulls with its engine's own")
	fs.BoolVar(&f.noResolveImage, "no-resolve-image", false, "accepted for docker's scripts: shoal never asks a registry for an image's digest")
	if update {
		fs.StringArrayVar(&f.ulimits, "ulimit-add", nil, "add or update a ulimit (nofile=1024:2048)")
		fs.StringArrayVar(&f.ulimitRm, "ulimit-rm", nil, "remove a ulimit by its name")
		fs.StringArrayVar(&f.dns, "dns-add", nil, "add a DNS server")
		fs.StringArrayVar(&f.dnsRm, "dns-rm", nil, "remove a DNS server")
		fs.StringArrayVar(&f.search, "dns-search-add", nil, "add a DNS search domain")
		fs.StringArrayVar(&f.searchRm, "dns-search-rm", nil, "remove a DNS search domain")
		fs.StringArrayVar(&f.options, "dns-option-add", nil, "add a DNS option")
		fs.StringArrayVar(&f.optionsRm, "dns-option-rm", nil, "remove a DNS option")
		fs.StringArrayVar(&f.sysctls, "sysctl-add", nil, "add or update a namespaced kernel parameter (KEY=VALUE)")
		fs.StringArrayVar(&f.sysctlRm, "sysctl-rm", nil, "remove a kernel parameter by its key")
		fs.StringArrayVar(&f.networkAdd, "network-add", nil, "attach the tasks to a network (NAME or ID)")
		fs.StringArrayVar(&f.networkRm, "network-rm", nil, "detach the tasks from a network")
		fs.StringArrayVar(&f.mountAdd, "mount-add", nil, "add or replace (by target) a mount, as --mount of service create")
		fs.StringArrayVar(&f.mountRm, "mount-rm", nil, "remove a mount by its target path")
		fs.StringArrayVar(&f.hosts, "host-add", nil, "add a host-to-IP mapping (HOST:IP)")
		fs.StringArrayVar(&f.hostRm, "host-rm", nil, "remove a host-to-IP mapping (HOST or HOST:IP)")
		fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint (split like a shell does; empty: the image's)")
		return
	}
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "ulimit option (nofile=1024:2048)")
	fs.StringArrayVar(&f.dns, "dns", nil, "DNS server")
	fs.StringArrayVar(&f.search, "dns-search", nil, "DNS search domain")
	fs.StringArrayVar(&f.options, "dns-option", nil, "DNS option")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "namespaced kernel parameter (KEY=VALUE)")
	// docker's --host would hide shoal's -H/--host: docker run's name.
	fs.StringArrayVar(&f.hosts, "add-host", nil, "add a host-to-IP mapping (HOST:IP), docker's service create --host")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "read environment variables from a file (KEY=VALUE lines; # comments)")
}

// name is the flag's name as this command spells it.
func (f *containerFlags) name(create, update string) string {
	if f.update {
		return update
	}
	return create
}

// apply sets the flags given on spec.
func (f *containerFlags) apply(cmd *cobra.Command, spec *api.ServiceSpec) error {
	fs := cmd.Flags()
	c := &spec.TaskTemplate.ContainerSpec
	if fs.Changed("init") {
		v := f.init
		c.Init = &v
	}
	if fs.Changed("read-only") {
		c.ReadOnly = f.readOnly
	}
	if fs.Changed("tty") {
		c.TTY = f.tty
	}
	// As docker's: a capability both added and dropped is dropped.
	c.CapAdd = mergeList(c.CapAdd, f.capAdd, f.capDrop, strings.EqualFold)
	c.CapDrop = mergeList(c.CapDrop, f.capDrop, f.capAdd, strings.EqualFold)
	if err := f.applyUlimits(c); err != nil {
		return usagef(cmd, "%v", err)
	}
	if len(f.dns)+len(f.dnsRm)+len(f.search)+len(f.searchRm)+len(f.options)+len(f.optionsRm) > 0 {
		d := api.DNSConfig{}
		if c.DNSConfig != nil {
			d = *c.DNSConfig
		}
		d.Nameservers = mergeList(d.Nameservers, f.dns, f.dnsRm, matchExact)
		d.Search = mergeList(d.Search, f.search, f.searchRm, matchExact)
		d.Options = mergeList(d.Options, f.options, f.optionsRm, matchExact)
		c.DNSConfig = &d
		if len(d.Nameservers)+len(d.Search)+len(d.Options) == 0 {
			c.DNSConfig = nil
		}
	}
	if len(f.sysctls)+len(f.sysctlRm) > 0 {
		adds, err := parseLabels(f.name("sysctl", "sysctl-add"), f.sysctls)
		if err != nil {
			return usagef(cmd, "%v", err)
		}
		m := map[string]string{}
		for k, v := range c.Sysctls {
			m[k] = v
		}
		for _, k := range f.sysctlRm {
			delete(m, envKey(k))
		}
		for k, v := range adds {
			m[k] = v
		}
		c.Sysctls = m
		if len(m) == 0 {
			c.Sysctls = nil
		}
	}
	if fs.Changed("log-driver") || fs.Changed("log-opt") {
		opts, err := parseLabels("log-opt", f.logOpts)
		if err != nil {
			return usagef(cmd, "%v", err)
		}
		d := &api.Driver{Name: f.logDriver, Options: opts}
		if old := spec.TaskTemplate.LogDriver; old != nil && !fs.Changed("log-driver") {
			d.Name = old.Name
		}
		if d.Name == "" && len(opts) > 0 {
			return usagef(cmd, "--log-opt needs --log-driver")
		}
		spec.TaskTemplate.LogDriver = d
	}
	for _, file := range f.envFiles {
		env, err := readEnvFile(file)
		if err != nil {
			return usagef(cmd, "invalid --env-file: %v", err)
		}
		// As docker's: the files first, then --env.
		c.Env = append(env, c.Env...)
	}
	// As docker's: removals first, then additions.
	nets := &spec.TaskTemplate.Networks
	for _, n := range f.networkRm {
		*nets = slices.DeleteFunc(*nets, func(a api.NetworkAttachment) bool { return a.Target == n })
	}
	for _, n := range f.networkAdd {
		if n == "" {
			return usagef(cmd, "invalid --network-add: empty network name")
		}
		if !slices.ContainsFunc(*nets, func(a api.NetworkAttachment) bool { return a.Target == n }) {
			*nets = append(*nets, api.NetworkAttachment{Target: n})
		}
	}
	if len(*nets) == 0 {
		*nets = nil
	}
	for _, target := range f.mountRm {
		c.Mounts = slices.DeleteFunc(c.Mounts, func(m api.Mount) bool { return m.Target == target })
	}
	for _, s := range f.mountAdd {
		m, err := parseMount(s)
		if err != nil {
			return usagef(cmd, "%v", err)
		}
		c.Mounts = append(slices.DeleteFunc(c.Mounts, func(x api.Mount) bool { return x.Target == m.Target }), m)
	}
	if len(c.Mounts) == 0 {
		c.Mounts = nil
	}
	if err := f.applyHosts(c); err != nil {
		return usagef(cmd, "%v", err)
	}
	if f.update && fs.Changed("entrypoint") {
		if c.Image == "" {
			return usagef(cmd, "invalid --entrypoint: service %s runs a program, not an image", spec.Name)
		}
		words, err := shellwords.Parse(f.entrypoint)
		if err != nil {
			return usagef(cmd, "invalid --entrypoint %q: %v", f.entrypoint, err)
		}
		c.Command = words
		if len(words) == 0 {
			c.Command = nil
		}
	}
	return nil
}

// applyHosts removes, then adds, host-to-IP mappings: HOST:IP on the
// command line, "IP HOST" in the spec (as Swarm keeps them).
func (f *containerFlags) applyHosts(c *api.ContainerSpec) error {
	for _, rm := range f.hostRm {
		host, ip, withIP := strings.Cut(rm, ":")
		c.Hosts = slices.DeleteFunc(c.Hosts, func(line string) bool {
			fields := strings.Fields(line)
			return len(fields) >= 2 && slices.Contains(fields[1:], host) && (!withIP || fields[0] == ip)
		})
	}
	for _, add := range f.hosts {
		host, ip, ok := strings.Cut(add, ":")
		if _, err := netip.ParseAddr(ip); !ok || host == "" || err != nil {
			return fmt.Errorf("invalid --%s %q: want HOST:IP", f.name("add-host", "host-add"), add)
		}
		if line := ip + " " + host; !slices.Contains(c.Hosts, line) {
			c.Hosts = append(c.Hosts, line)
		}
	}
	if len(c.Hosts) == 0 {
		c.Hosts = nil
	}
	return nil
}

// mergeList returns list without what rm matches, then with add's items it
// lacks; nil when empty.
func mergeList(list, add, rm []string, eq func(a, b string) bool) []string {
	if len(add) == 0 && len(rm) == 0 {
		return list
	}
	out := slices.DeleteFunc(slices.Clone(list), func(x string) bool {
		return slices.ContainsFunc(rm, func(r string) bool { return eq(x, r) })
	})
	for _, a := range add {
		if !slices.ContainsFunc(out, func(x string) bool { return eq(x, a) }) && !slices.ContainsFunc(rm, func(r string) bool { return eq(a, r) }) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (f *containerFlags) applyUlimits(c *api.ContainerSpec) error {
	if len(f.ulimits)+len(f.ulimitRm) == 0 {
		return nil
	}
	out := slices.DeleteFunc(slices.Clone(c.Ulimits), func(u api.Ulimit) bool { return slices.Contains(f.ulimitRm, u.Name) })
	for _, s := range f.ulimits {
		u, err := parseUlimit(s)
		if err != nil {
			return fmt.Errorf("invalid --%s %q: %v", f.name("ulimit", "ulimit-add"), s, err)
		}
		out = slices.DeleteFunc(out, func(x api.Ulimit) bool { return x.Name == u.Name })
		out = append(out, u)
	}
	c.Ulimits = out
	if len(out) == 0 {
		c.Ulimits = nil
	}
	return nil
}

// parseUlimit reads docker's NAME=SOFT[:HARD].
func parseUlimit(s string) (api.Ulimit, error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return api.Ulimit{}, fmt.Errorf("want NAME=SOFT[:HARD]")
	}
	softS, hardS, hasHard := strings.Cut(v, ":")
	soft, err := strconv.ParseInt(softS, 10, 64)
	if err != nil {
		return api.Ulimit{}, fmt.Errorf("soft limit %q is not a number", softS)
	}
	hard := soft
	if hasHard {
		if hard, err = strconv.ParseInt(hardS, 10, 64); err != nil {
			return api.Ulimit{}, fmt.Errorf("hard limit %q is not a number", hardS)
		}
	}
	if soft > hard {
		return api.Ulimit{}, fmt.Errorf("soft limit %d is above the hard limit %d", soft, hard)
	}
	return api.Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// maxEnvFile bounds an --env-file: the spec's own limits are far below.
const maxEnvFile = 1 << 20

// readEnvFile reads docker's env file: KEY=VALUE lines, # comments and
// blank lines skipped, a bare KEY taking its value from this environment
// (left out if unset).
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxEnvFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxEnvFile)
	}
	var env []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, hasValue := strings.Cut(line, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: variable %q has white space or no name", path, n, k)
		}
		if !hasValue {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
			continue
		}
		env = append(env, line)
	}
	return env, sc.Err()
}
