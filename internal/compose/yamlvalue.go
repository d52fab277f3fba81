package compose

import (
	"io"
	"math"
	"sync"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"
)

// ---- YAML to plain values ----

// nodeValue turns a parsed document into maps, lists and scalars, as a
// YAML decoder would, with a bound on alias expansion. Entries tagged
// !reset are dropped; ok is false when the document is too large.
func nodeValue(n *yamlNode) (any, bool) {
	c := &nodeConv{budget: 1 << 20}
	v := c.value(n, 0)
	return v, c.budget >= 0
}

type nodeConv struct{ budget int }

func (c *nodeConv) value(n *yamlNode, depth int) any {
	c.budget--
	if n == nil || c.budget < 0 || depth > 256 {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.value(n.Alias, depth+1)
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return n.Value
			}
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return n.Value
			}
			return v
		}
		return n.Value
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			out = append(out, c.value(e, depth+1))
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		var merges []*yamlNode
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			if v.Tag == "!reset" {
				continue
			}
			key := k.Value
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				key = k.Alias.Value
			}
			out[key] = c.value(v, depth+1)
		}
		for _, m := range merges {
			var srcs []any
			switch mv := c.value(m, depth+1).(type) {
			case map[string]any:
				srcs = []any{mv}
			case []any:
				srcs = mv
			}
			for _, s := range srcs {
				if sm, ok := s.(map[string]any); ok {
					for k, v := range sm {
						if _, set := out[k]; !set {
							out[k] = v
						}
					}
				}
			}
		}
		return out
	}
	return nil
}

// ---- compose-go's log ----

var (
	logMu       sync.Mutex // one load at a time uses compose-go's log
	logSink     *[]string
	logInitOnce sync.Once
)

type logHook struct{}

func (logHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.ErrorLevel, logrus.WarnLevel}
}

func (logHook) Fire(e *logrus.Entry) error {
	if logSink != nil {
		*logSink = append(*logSink, e.Message)
	}
	return nil
}

// withComposeLog runs f with compose-go's log lines (it logs warnings with
// logrus, the only user of logrus in shoal) collected into sink instead of
// printed.
func withComposeLog(sink *[]string, f func()) {
	logInitOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.AddHook(logHook{})
	})
	logMu.Lock()
	defer logMu.Unlock()
	logSink = sink
	defer func() { logSink = nil }()
	f()
}
