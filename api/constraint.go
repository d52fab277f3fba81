package api

import (
	"fmt"
	"strings"
)

// Constraint is one parsed placement constraint, "KEY==VALUE" or
// "KEY!=VALUE".
type Constraint struct {
	Key   string
	Equal bool
	Value string
}

var constraintKeys = []string{
	"node.id", "node.hostname", "node.ip", "node.role",
	"node.platform.os", "node.platform.arch",
}

// ParseConstraint reads a constraint expression and checks its key.
func ParseConstraint(expr string) (Constraint, error) {
	var c Constraint
	op := ""
	switch {
	case strings.Contains(expr, "=="):
		op, c.Equal = "==", true
	case strings.Contains(expr, "!="):
		op = "!="
	default:
		return c, fmt.Errorf("constraint %q: want KEY==VALUE or KEY!=VALUE", expr)
	}
	k, v, _ := strings.Cut(expr, op)
	c.Key, c.Value = strings.TrimSpace(k), strings.TrimSpace(v)
	if c.Key == "" || c.Value == "" || strings.ContainsAny(c.Value, "=!") {
		return c, fmt.Errorf("constraint %q: want KEY==VALUE or KEY!=VALUE", expr)
	}
	// Keys compare case-insensitively in ASCII only: with equal byte
	// lengths, EqualFold cannot match a non-ASCII look-alike ("ſ", "K").
	for _, known := range constraintKeys {
		if len(c.Key) == len(known) && strings.EqualFold(c.Key, known) {
			c.Key = known
			return c, nil
		}
	}
	for _, prefix := range []string{"node.labels.", "engine.labels."} {
		// Compare c.Key itself, not a lower-cased copy: lower-casing may
		// change the byte length of non-ASCII runes ("İ" becomes "i"), and
		// the label name is cut from c.Key at len(prefix).
		if len(c.Key) > len(prefix) && strings.EqualFold(c.Key[:len(prefix)], prefix) {
			// Label names keep their case.
			c.Key = prefix + c.Key[len(prefix):]
			return c, nil
		}
	}
	return c, fmt.Errorf("constraint %q: unknown key %q (want node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.KEY or engine.labels.KEY)", expr, c.Key)
}
