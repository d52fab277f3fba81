package format

import (
	"bytes"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
)

// headerNode stands in for a row when a table's header is rendered: each
// field used by the template maps to its header, and a field with
// sub-fields maps to a nested headerNode that prints as its own header
// (kept under the key "", which no template field can name).
type headerNode map[string]any

// String returns the node's own header.
func (n headerNode) String() string {
	s, _ := n[""].(string)
	return s
}

// deriveHeader renders the header line of a "table" format by running the
// row template on header names instead of a row, with headerFuncs so that
// helpers leave the names intact. As in docker, an error part-way leaves
// the header rendered so far.
func deriveHeader(tmpl *template.Template, defaults map[string]string) string {
	root := headerNode{}
	for _, chain := range fieldChains(tmpl) {
		node := root
		for i, name := range chain {
			label, ok := defaults[strings.Join(chain[:i+1], ".")]
			if !ok {
				label = headerName(name)
			}
			if i == len(chain)-1 {
				if _, ok := node[name]; !ok {
					node[name] = label
				}
				break
			}
			child, ok := node[name].(headerNode)
			if !ok {
				child = headerNode{"": label}
				node[name] = child
			}
			node = child
		}
	}
	h, err := tmpl.Clone()
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	_ = h.Funcs(headerFuncs).Execute(&buf, root)
	return buf.String()
}

// fieldChains lists the field chains (like ["Spec", "Name"] for
// {{.Spec.Name}} or {{$.Spec.Name}}) used anywhere in tmpl, in order.
func fieldChains(tmpl *template.Template) [][]string {
	var chains [][]string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			chains = append(chains, n.Ident)
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				chains = append(chains, n.Ident[1:])
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, t := range tmpl.Templates() {
		if t.Tree != nil {
			walk(t.Root)
		}
	}
	return chains
}

// headerName turns a field name into a header: "CurrentState" gives
// "CURRENT STATE", "NodeID" gives "NODE ID", "ID" stays "ID".
func headerName(field string) string {
	r := []rune(field)
	var b strings.Builder
	for i, c := range r {
		if c == '_' {
			b.WriteByte(' ')
			continue
		}
		if i > 0 && unicode.IsUpper(c) && r[i-1] != '_' {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte(' ')
			}
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}
