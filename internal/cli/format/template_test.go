package format

import (
	"bytes"
	"strings"
	"testing"
)

func TestFuncs(t *testing.T) {
	data := map[string]any{"s": "Hello World", "l": []string{"a", "b"}, "e": "", "u": "héllo", "h": "<b>"}
	tests := []struct{ tmpl, want string }{
		{`{{json .l}}`, `["a","b"]`},
		{`{{json .h}}`, `"<b>"`},
		{`{{join .l ", "}}`, "a, b"},
		{`{{split "a:b:c" ":"}}`, "[a b c]"},
		{`{{lower .s}}`, "hello world"},
		{`{{upper .s}}`, "HELLO WORLD"},
		{`{{title "hello world"}}`, "Hello World"},
		{`{{truncate .s 5}}`, "Hello"},
		{`{{truncate .s 50}}`, "Hello World"},
		{`{{truncate .u 2}}`, "hé"},
		{`{{truncate .s -1}}`, ""},
		{`[{{pad .s 1 2}}]`, "[ Hello World  ]"},
		{`[{{pad .e 1 2}}]`, "[]"},
		{`{{println .s}}`, "Hello World\n"},
	}
	for _, tt := range tests {
		tmpl, err := Parse(tt.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		if got := buf.String(); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

func TestInspect(t *testing.T) {
	tests := []struct {
		name   string
		format string
		objs   any
		want   string
	}{
		{name: "default indented array", objs: []row{rows[1]}, want: `[
    {
        "ID": "xyz789",
        "Name": "db-primary",
        "Mode": "global",
        "Replicas": "1/1",
        "CurrentState": "Pending",
        "NodeID": "n2",
        "Labels": null,
        "Spec": {
            "Name": "db",
            "image": "pg\u003c16\u003e"
        }
    }
]
`},
		{name: "default empty", objs: []row{}, want: "[]\n"},
		{name: "json compact", format: "json", objs: []spec{{Name: "a"}}, want: `[{"Name":"a","image":""}]` + "\n"},
		{name: "template per object", format: "{{.Spec.Name}}", objs: rows, want: "web\ndb\n"},
		{name: "template on mixed objects", format: "{{.Name}}", objs: []any{rows[0], spec{Name: "s"}}, want: "web\ns\n"},
		{name: "json field name fallback", format: "{{.Spec.image}}", objs: rows, want: "nginx:1\npg<16>\n"},
		{name: "template no objects", format: "{{.Name}}", objs: []row{}, want: "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Inspect(&out, tt.objs, tt.format); err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	var out bytes.Buffer
	err := Inspect(&out, rows, "{{.Spec.Name")
	if err == nil || !strings.HasPrefix(err.Error(), "template parsing error:") {
		t.Fatalf("parse: err = %v", err)
	}

	// One object lacks the field: the other is still printed.
	out.Reset()
	err = Inspect(&out, []any{rows[0], spec{Name: "s"}}, "{{.Spec.Name}}")
	if err == nil || !strings.Contains(err.Error(), "template parsing error:") {
		t.Fatalf("execute: err = %v", err)
	}
	if got := out.String(); got != "web\n" {
		t.Errorf("got %q, want %q", got, "web\n")
	}
}
