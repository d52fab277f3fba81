package compose

import (
	"path"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/paths"
	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"

	"github.com/shoalproject/shoal/api"
)

// isAbsTarget reports whether a config or secret target is an absolute
// path: a Unix one, or a Windows one (C:\app\x.config), which is kept as
// written.
func isAbsTarget(t string) bool {
	return path.IsAbs(t) || paths.IsWindowsAbs(t)
}

// fileRef resolves a service's reference to a config or secret: the
// object's name and its file in the task, a relative target (or none)
// under dir. It fails, returning false, when the object is not declared.
func (c *converter) fileRef(kind, dir string, ref types.FileReferenceConfig, def types.FileObjectConfig, declared bool, segs []string) (string, *api.FileTarget, bool) {
	if !declared {
		c.l.fail(c.l.at(segs, "%s %q is not defined: declare it under the top-level %ss", kind, ref.Source, kind))
		return "", nil, false
	}
	target := ref.Target
	switch {
	case target == "":
		target = dir + ref.Source
	case !isAbsTarget(target):
		target = dir + target
	}
	return c.objName(ref.Source, def.Name, bool(def.External)), c.fileTarget(target, ref.UID, ref.GID, ref.Mode, segs), true
}

func (c *converter) fileTarget(target, uid, gid string, mode *types.FileMode, segs []string) *api.FileTarget {
	ft := &api.FileTarget{Name: target, UID: uid, GID: gid}
	if mode != nil {
		if *mode < 0 || *mode > 0o7777 {
			c.l.fail(c.l.at(append(segs, "mode"), "mode %#o is not a file mode", int64(*mode)))
		} else {
			ft.Mode = uint32(*mode)
		}
	}
	return ft
}

func (c *converter) mount(v types.ServiceVolumeConfig, segs []string) (api.Mount, bool) {
	m := api.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
	if v.Target == "" {
		c.l.fail(c.l.at(segs, "no target: give the path inside the container"))
		return m, false
	}
	switch v.Type {
	case types.VolumeTypeVolume:
		m.Type = api.MountVolume
		var labels map[string]string
		if v.Source != "" {
			vi, ok := c.vols[v.Source]
			if !ok {
				c.l.fail(c.l.at(segs, "volume %q is not defined: declare it under the top-level volumes", v.Source))
				return m, false
			}
			m.Source = vi.name
			if !vi.external {
				labels = copyMap(vi.labels)
			}
		}
		if v.Volume != nil && len(v.Volume.Labels) > 0 {
			if labels == nil {
				labels = map[string]string{}
			}
			for k, val := range v.Volume.Labels {
				labels[k] = val
			}
		}
		m.VolumeLabels = labels
	case types.VolumeTypeBind:
		m.Type = api.MountBind
		m.Source = v.Source
		if m.Source == "" {
			c.l.fail(c.l.at(segs, "bind mount without a source"))
			return m, false
		}
	case types.VolumeTypeTmpfs:
		m.Type = api.MountTmpfs
		if v.Source != "" {
			c.l.fail(c.l.at(segs, "a tmpfs mount takes no source (got %q)", v.Source))
			return m, false
		}
		if v.Tmpfs != nil {
			m.TmpfsSize = int64(v.Tmpfs.Size)
			m.TmpfsMode = v.Tmpfs.Mode
		}
	default:
		c.l.fail(c.l.at(segs, "volume type %q is not supported: want volume, bind or tmpfs", v.Type))
		return m, false
	}
	return m, true
}

// tmpfs reads a service's `tmpfs:` entry, "PATH[:OPTIONS]" as for
// `docker run --tmpfs`.
func (c *converter) tmpfs(spec string, segs []string) (api.Mount, bool) {
	target, opts, _ := strings.Cut(spec, ":")
	m := api.Mount{Type: api.MountTmpfs, Target: target}
	if !path.IsAbs(target) {
		c.l.fail(c.l.at(segs, "tmpfs %q: the target must be an absolute path", spec))
		return m, false
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(o), "=")
		switch k {
		case "":
		case "ro":
			m.ReadOnly = true
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil || n < 0 {
				c.l.fail(c.l.at(segs, "tmpfs %q: invalid size %q", spec, v))
				return m, false
			}
			m.TmpfsSize = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				c.l.fail(c.l.at(segs, "tmpfs %q: invalid mode %q", spec, v))
				return m, false
			}
			m.TmpfsMode = uint32(n)
		default:
			c.l.unsupported["tmpfs."+k] = true
		}
	}
	return m, true
}
