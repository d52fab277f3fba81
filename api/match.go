package api

import (
	"net"
	"strings"
)

// Matches reports whether node n satisfies the constraint. Keys and values
// compare case-insensitively; node.ip takes an address or a CIDR.
func (c Constraint) Matches(n *Node) bool {
	var have string
	found := true
	switch c.Key {
	case "node.id":
		have = n.ID
	case "node.hostname":
		have = n.Description.Hostname
	case "node.role":
		have = n.Spec.Role
	case "node.platform.os":
		have = n.Description.Platform.OS
	case "node.platform.arch":
		have = n.Description.Platform.Architecture
	case "node.ip":
		return c.matchIP(n.Status.Addr) == c.Equal
	default:
		switch {
		case strings.HasPrefix(c.Key, "node.labels."):
			have, found = n.Spec.Labels[strings.TrimPrefix(c.Key, "node.labels.")]
		case strings.HasPrefix(c.Key, "engine.labels."):
			have, found = n.Description.EngineLabels[strings.TrimPrefix(c.Key, "engine.labels.")]
		default:
			return false
		}
	}
	if !found {
		// A missing label equals nothing, so only != holds.
		return !c.Equal
	}
	return strings.EqualFold(have, c.Value) == c.Equal
}

func (c Constraint) matchIP(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if _, cidr, err := net.ParseCIDR(c.Value); err == nil {
		return cidr.Contains(ip)
	}
	want := net.ParseIP(c.Value)
	return want != nil && want.Equal(ip)
}

// IsPlatform reports whether the constraint is about the node's platform.
func (c Constraint) IsPlatform() bool { return strings.HasPrefix(c.Key, "node.platform.") }

// ParsedConstraints parses every constraint of a placement, skipping invalid ones
// (specs are validated before they are stored).
func (p *Placement) ParsedConstraints() []Constraint {
	if p == nil {
		return nil
	}
	out := make([]Constraint, 0, len(p.Constraints))
	for _, s := range p.Constraints {
		if c, err := ParseConstraint(s); err == nil {
			out = append(out, c)
		}
	}
	return out
}
