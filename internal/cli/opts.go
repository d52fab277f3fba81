package cli

import (
	"fmt"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/shoalproject/shoal/api"
)

// parseLabels reads KEY=VALUE (or KEY, with an empty value) pairs.
func parseLabels(flag string, in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range in {
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("invalid --%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseCPUs reads a number of CPUs ("0.5") as nano CPUs.
func parseCPUs(flag, s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid --%s %q: want a number of CPUs such as 0.5", flag, s)
	}
	return int64(f * 1e9), nil
}

// parseBytes reads a memory size ("512m", "1g").
func parseBytes(flag, s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid --%s %q: want a size such as 512m or 1g", flag, s)
	}
	return n, nil
}

// parsePublish reads a --publish value: "TARGET", "PUBLISHED:TARGET[/PROTO]"
// or the long form "published=8080,target=80,mode=host,protocol=tcp".
func parsePublish(s string) (api.PortConfig, error) { return parsePort("publish", s) }

// parsePort reads a port in any of --publish's forms; errors name flag.
func parsePort(flag, s string) (api.PortConfig, error) {
	var p api.PortConfig
	bad := func(why string) (api.PortConfig, error) {
		return p, fmt.Errorf("invalid --%s %q: %s", flag, s, why)
	}
	port := func(v string) (uint32, error) {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("invalid --%s %q: %q is not a port number", flag, s, v)
		}
		return uint32(n), nil
	}
	if strings.Contains(s, "=") {
		for _, field := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(field, "=")
			if !ok {
				return bad("want KEY=VALUE fields")
			}
			var err error
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "published":
				p.PublishedPort, err = port(v)
			case "target":
				p.TargetPort, err = port(v)
			case "mode":
				p.PublishMode = v
			case "protocol":
				p.Protocol = v
			default:
				return bad("unknown field " + k)
			}
			if err != nil {
				return p, err
			}
		}
		if p.TargetPort == 0 {
			return bad("missing target")
		}
		return p, nil
	}
	spec, proto, _ := strings.Cut(s, "/")
	p.Protocol = proto
	pub, target, two := strings.Cut(spec, ":")
	var err error
	if two {
		if p.PublishedPort, err = port(pub); err != nil {
			return p, err
		}
		p.TargetPort, err = port(target)
	} else {
		p.TargetPort, err = port(pub)
	}
	return p, err
}

// parseMount reads a --mount value as the docker CLI does:
// "type=volume,source=data,target=/data,readonly".
func parseMount(s string) (api.Mount, error) {
	m := api.Mount{Type: api.MountVolume}
	bad := func(why string) (api.Mount, error) {
		return m, fmt.Errorf("invalid --mount %q: %s", s, why)
	}
	for _, field := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(field, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "type":
			switch v {
			case api.MountBind, api.MountVolume, api.MountTmpfs:
				m.Type = v
			default:
				return bad("type must be bind, volume or tmpfs")
			}
		case "source", "src":
			m.Source = v
		case "target", "dst", "destination":
			m.Target = v
		case "readonly", "ro":
			if !hasValue {
				m.ReadOnly = true
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("readonly takes true or false")
			}
			m.ReadOnly = b
		case "volume-label":
			lk, lv, _ := strings.Cut(v, "=")
			if lk == "" {
				return bad("volume-label takes KEY=VALUE")
			}
			if m.VolumeLabels == nil {
				m.VolumeLabels = map[string]string{}
			}
			m.VolumeLabels[lk] = lv
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n < 0 {
				return bad("tmpfs-size takes a size such as 64m")
			}
			m.TmpfsSize = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return bad("tmpfs-mode takes an octal mode such as 1777")
			}
			m.TmpfsMode = uint32(n)
		default:
			return bad("unknown field " + strconv.Quote(k))
		}
	}
	switch {
	case m.Target == "":
		return bad("missing target")
	case m.Type == api.MountBind && m.Source == "":
		return bad("a bind mount needs a source")
	case m.Type == api.MountTmpfs && m.Source != "":
		return bad("a tmpfs mount takes no source")
	}
	return m, nil
}
