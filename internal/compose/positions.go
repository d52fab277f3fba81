package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/shoalproject/shoal/api"
)

type yamlNode = yaml.Node

// parseYAML parses every document of a file into nodes, which give
// positions for messages. It returns a non-nil slice on success.
func parseYAML(content []byte) ([]*yamlNode, error) {
	docs := []*yamlNode{}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(n.Content) > 0 && n.Content[0].Tag == "!reset" {
			// compose-go cannot take a document that resets itself.
			r := n.Content[0]
			return nil, fmt.Errorf("line %d, column %d: the top-level object must be a mapping, not !reset", r.Line, r.Column)
		}
		docs = append(docs, &n)
	}
}

// ---- positions ----

// locate returns "FILE:LINE:COL" for a path of the merged model, looking
// in every file (the deepest match wins, a later file on a tie), or "".
func (l *loadState) locate(segs []string) string {
	best, bestDepth := "", 0
	for _, f := range l.files {
		for _, d := range f.docs {
			n, depth := findPath(d, segs, 0)
			if n != nil && depth >= bestDepth && depth > 0 {
				best, bestDepth = fmt.Sprintf("%s:%d:%d", f.name, n.Line, n.Column), depth
			}
		}
	}
	return best
}

// findPath walks segs down from n. It returns the node of the deepest
// segment found (the key node for a mapping member) and how many segments
// matched.
func findPath(n *yamlNode, segs []string, depth int) (*yamlNode, int) {
	if n == nil || depth > 64 {
		return nil, 0
	}
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				return nil, 0
			}
			n = n.Content[0]
		} else {
			if n.Alias == nil {
				return nil, 0
			}
			n = n.Alias
			depth++
			if depth > 64 {
				return nil, 0
			}
		}
	}
	if len(segs) == 0 {
		return n, 0
	}
	var key, val *yamlNode
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == segs[0] {
				key, val = n.Content[i], n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(segs[0]); err == nil && i >= 0 && i < len(n.Content) {
			key, val = n.Content[i], n.Content[i]
			break
		}
		// A list of names, such as a service's networks: [a, b], or of
		// KEY=VALUE entries, such as labels in list form.
		for _, e := range n.Content {
			if e.Kind == yaml.ScalarNode && (e.Value == segs[0] || strings.HasPrefix(e.Value, segs[0]+"=")) {
				key, val = e, e
			}
		}
	}
	if key == nil {
		return nil, 0
	}
	if len(segs) == 1 {
		return key, 1
	}
	if sub, d := findPath(val, segs[1:], depth+1); sub != nil && d > 0 {
		return sub, d + 1
	}
	return key, 1
}

// pathString renders path segments as compose-go does in its messages:
// services.web.ports[1].
func pathString(segs []string) string { return api.JoinPath(segs) }

// at formats a problem at a path: "FILE:LINE:COL: PATH: MESSAGE".
//
// A problem that follows from a value an earlier check refused is
// errRefused, which fail drops.
func (l *loadState) at(segs []string, format string, a ...any) error {
	if l.isRefused(segs) {
		return errRefused
	}
	msg := fmt.Sprintf(format, a...)
	if loc := l.locate(segs); loc != "" {
		return fmt.Errorf("%s: %s: %s", loc, pathString(segs), msg)
	}
	return fmt.Errorf("%s: %s", pathString(segs), msg)
}
