package compose

import (
	"bytes"
	"errors"
	"slices"

	"go.yaml.in/yaml/v4"
)

// Going on after the checks that run before compose-go. compose-go stops
// at the first value it can't read, so when diagnose has found problems,
// compose-go is given the files without the values it refused (a list
// whole when one of its entries was refused), and the stack is converted
// and validated from the rest: the problems of the other keys and
// services are listed too. What follows from a value left out (a service
// without its image, a config without its file) is not a problem of the
// file, so it is not listed (refused).

// errRefused is what at returns for a path under a value left out; fail
// drops it.
var errRefused = errors.New("a value refused by an earlier check")

// pruneRefused gives every file whose values diagnose refused a copy
// without them, for compose-go. It returns false when one can't be made
// (a problem with a whole document): the load stops with what diagnose
// found.
func (l *loadState) pruneRefused() bool {
	for fi, paths := range l.diag.prune {
		f := l.files[fi]
		docs, err := parseYAML(f.content)
		if err != nil {
			return false
		}
		for _, segs := range paths {
			if len(segs) == 0 {
				return false
			}
			for _, d := range docs {
				if cut := deleteKey(d, segs); cut != nil {
					l.refused = append(l.refused, cut)
				}
			}
		}
		pruned, err := encodeDocs(docs)
		if err != nil {
			return false
		}
		f.pruned = pruned
	}
	return true
}

// encodeDocs writes documents back as YAML, and checks that what it wrote
// parses (an alias whose anchor was left out would not).
func encodeDocs(docs []*yamlNode) ([]byte, error) {
	var b bytes.Buffer
	err := safely(func() error {
		enc := yaml.NewEncoder(&b)
		for _, d := range docs {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		if err := enc.Close(); err != nil {
			return err
		}
		_, err := parseYAML(b.Bytes())
		return err
	})
	return b.Bytes(), err
}

// deleteKey removes the mapping entry at segs from a document, or the
// entry holding the list segs goes into. It returns the path removed, or
// nil when there is none (a key from a merge, say: compose-go then finds
// the problem again, and explain drops it as said).
func deleteKey(n *yamlNode, segs []string) []string {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	for depth := 0; depth < len(segs); depth++ {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		i := mappingKey(n, segs[depth])
		if i < 0 {
			return nil
		}
		v := n.Content[i+1]
		if depth == 2 && segs[0] == "services" && segs[2] == "image" {
			// A stand-in: without an image, the service's command would be
			// checked as a host program's.
			n.Content[i+1] = &yamlNode{Kind: yaml.ScalarNode, Tag: "!!str", Value: "image-refused"}
			return append([]string(nil), segs[:3]...)
		}
		if depth == len(segs)-1 || v.Kind != yaml.MappingNode {
			// The key itself, or the list (or scalar) holding the rest.
			n.Content = slices.Delete(n.Content, i, i+2)
			return append([]string(nil), segs[:depth+1]...)
		}
		n = v
	}
	return nil
}

// mappingKey returns the index in a mapping's Content of the key named
// key, or -1. Keys are at even indices: a value spelled like the key is
// not it.
func mappingKey(n *yamlNode, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// isRefused reports whether a problem at segs follows from a value left
// out: it is under one, or it is placed at the object (services.NAME,
// configs.NAME, ...) that lost what the object-level checks look at.
func (l *loadState) isRefused(segs []string) bool {
	for _, p := range l.refused {
		if len(segs) >= len(p) && slices.Equal(segs[:len(p)], p) {
			return true
		}
		if len(segs) == 2 && len(p) == 3 && slices.Equal(p[:2], segs) && objectLevelKeys[p[2]] {
			return true
		}
	}
	return false
}

// objectLevelKeys are the keys whose absence a check reports at the
// object: a service with no image and no command, a config or secret
// with no source.
var objectLevelKeys = map[string]bool{
	"image": true, "command": true, "entrypoint": true,
	"file": true, "environment": true, "content": true, "external": true,
}
