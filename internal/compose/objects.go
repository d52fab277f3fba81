package compose

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoalproject/shoal/api"
)

func (c *converter) configs() []StackObject {
	var out []StackObject
	for _, key := range sortedNames(c.p.Configs) {
		cfg := types.FileObjectConfig(c.p.Configs[key])
		if o, ok := c.object("configs", "config", key, cfg, api.MaxConfigSize); ok {
			out = append(out, o)
		}
	}
	return out
}

func (c *converter) secrets() []StackObject {
	var out []StackObject
	for _, key := range sortedNames(c.p.Secrets) {
		cfg := types.FileObjectConfig(c.p.Secrets[key])
		if o, ok := c.object("secrets", "secret", key, cfg, api.MaxSecretSize); ok {
			out = append(out, o)
		}
	}
	return out
}

// object makes the StackObject of a config or secret, reading its data.
func (c *converter) object(section, kind, key string, obj types.FileObjectConfig, max int) (StackObject, bool) {
	o := StackObject{Key: key, Name: c.objName(key, obj.Name, bool(obj.External)), External: bool(obj.External)}
	if o.External {
		return o, true
	}
	segs := []string{section, key}
	o.Labels = withNamespace(obj.Labels, c.stack)
	// What the managers check when the object is created.
	if err := api.ValidateFileObjectName(kind, o.Name); err != nil {
		c.l.fail(c.l.at(append(segs, "name"), "%v", err))
	}
	c.labelLimits(kind, o.Labels, append(segs, "labels"))
	limit := fmt.Sprintf("a %s may have at most %d bytes (%d KB)", kind, max, max/1024)
	switch {
	case obj.Environment != "":
		v, ok := c.l.env[obj.Environment]
		if !ok {
			c.l.fail(c.l.at(append(segs, "environment"), "environment variable %s is not set", obj.Environment))
			return o, false
		}
		o.Data, o.Source = []byte(v), "env:"+obj.Environment
	case obj.File != "":
		o.Source = obj.File
		st, err := os.Stat(obj.File)
		if err != nil {
			c.l.fail(c.l.at(append(segs, "file"), "file %s: %v", obj.File, unwrapPathError(err)))
			return o, false
		}
		if st.IsDir() {
			c.l.fail(c.l.at(append(segs, "file"), "file %s is a directory", obj.File))
			return o, false
		}
		if st.Size() > int64(max) {
			c.l.fail(c.l.at(append(segs, "file"), "file %s is %d bytes: too large, %s", obj.File, st.Size(), limit))
			return o, false
		}
		// Read no more than the limit allows: a file that grows after the
		// size check, or a device or a pipe (which has no size), is cut.
		data, err := readAtMost(obj.File, max)
		if err != nil {
			c.l.fail(c.l.at(append(segs, "file"), "file %s: %v", obj.File, unwrapPathError(err)))
			return o, false
		}
		if len(data) > max {
			c.l.fail(c.l.at(append(segs, "file"), "file %s is more than %d bytes: too large, %s", obj.File, max, limit))
			return o, false
		}
		o.Data = data
	case obj.Content != "":
		o.Data, o.Source = []byte(obj.Content), "content"
	default:
		c.l.fail(c.l.at(segs, "no source: give file, environment or external: true"))
		return o, false
	}
	if len(o.Data) > max {
		c.l.fail(c.l.at(segs, "%s %s is %d bytes: too large, %s", kind, o.Source, len(o.Data), limit))
		return o, false
	}
	if len(o.Data) == 0 {
		what := "file " + obj.File
		if obj.File == "" {
			what = o.Source
		}
		c.l.fail(c.l.at(segs, "%s is empty: a %s needs data", what, kind))
		return o, false
	}
	return o, true
}

func (c *converter) volumes() {
	c.vols = map[string]volumeInfo{}
	for key, v := range c.p.Volumes {
		vi := volumeInfo{name: c.objName(key, v.Name, bool(v.External)), external: bool(v.External)}
		if !vi.external {
			vi.labels = withNamespace(v.Labels, c.stack)
		}
		c.vols[key] = vi
	}
}

// networks lists the networks the services use.
func (c *converter) networks() []NetworkRef {
	var out []NetworkRef
	for _, key := range sortedNames(c.usedNets) {
		def, ok := c.p.Networks[key]
		if !ok {
			// The implicit default network.
			out = append(out, NetworkRef{Key: key, Name: c.stack + "_" + key, Driver: defaultNetworkDriver,
				Labels: withNamespace(nil, c.stack)})
			continue
		}
		n := NetworkRef{Key: key, Name: c.objName(key, def.Name, bool(def.External)), External: bool(def.External)}
		if !n.External {
			n.Driver = def.Driver
			if n.Driver == "" {
				n.Driver = defaultNetworkDriver
			}
			n.Labels = withNamespace(def.Labels, c.stack)
			// What the managers check when the network is created.
			segs := []string{"networks", key}
			if err := api.ValidateName("network", n.Name); err != nil {
				c.l.fail(c.l.at(append(segs, "name"), "%v", err))
			}
			if err := api.ValidateNetworkDriver(n.Driver); err != nil {
				c.l.fail(c.l.at(append(segs, "driver"), "%v", err))
			}
			c.labelLimits("network", n.Labels, append(segs, "labels"))
			n.Attachable = def.Attachable
			n.Internal = def.Internal
			n.IPAM = ipam(def.Ipam)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ipam returns the subnets of a network's ipam.config; the manager checks
// them (one IPv4 subnet, a gateway inside it).
func ipam(in types.IPAMConfig) *api.IPAM {
	var out api.IPAM
	for _, p := range in.Config {
		if p != nil && (p.Subnet != "" || p.Gateway != "") {
			out.Config = append(out.Config, api.IPAMConfig{Subnet: p.Subnet, Gateway: p.Gateway})
		}
	}
	if len(out.Config) == 0 {
		return nil
	}
	return &out
}

// readAtMost reads a file, stopping after max+1 bytes: more than max
// bytes read says it is too large.
func readAtMost(name string, max int) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(max)+1))
}
