package format

import (
	"bytes"
	"strings"
	"testing"
)

type spec struct {
	Name  string
	Image string `json:"image"`
}

type row struct {
	ID           string
	Name         string
	Mode         string
	Replicas     string
	CurrentState string
	NodeID       string
	Labels       []string
	Spec         spec
}

var rows = []row{
	{ID: "abc123def456", Name: "web", Mode: "replicated", Replicas: "3/3",
		CurrentState: "Running 3 seconds ago", NodeID: "n1",
		Labels: []string{"a=1", "b=2"}, Spec: spec{Name: "web", Image: "nginx:1"}},
	{ID: "xyz789", Name: "db-primary", Mode: "global", Replicas: "1/1",
		CurrentState: "Pending", NodeID: "n2", Spec: spec{Name: "db", Image: "pg<16>"}},
}

var columns = []Column{
	{Header: "ID", Field: "{{.ID}}"},
	{Header: "NAME", Field: "{{.Name}}"},
	{Header: "MODE", Field: "{{.Mode}}"},
	{Header: "REPLICAS", Field: "{{.Replicas}}"},
	{Header: "IMAGE", Field: "{{.Spec.Image}}"},
}

func TestTableWrite(t *testing.T) {
	tests := []struct {
		name   string
		format string
		quiet  bool
		rows   any
		want   string
	}{
		{name: "default table", want: "" +
			"ID             NAME         MODE         REPLICAS   IMAGE\n" +
			"abc123def456   web          replicated   3/3        nginx:1\n" +
			"xyz789         db-primary   global       1/1        pg<16>\n"},
		{name: "table keyword alone", format: "table", rows: rows[:1], want: "" +
			"ID             NAME      MODE         REPLICAS   IMAGE\n" +
			"abc123def456   web       replicated   3/3        nginx:1\n"},
		{name: "default table no rows", rows: []row{}, want: "" +
			"ID        NAME      MODE      REPLICAS   IMAGE\n"},
		{name: "custom table derives headers", format: `table {{.ID}}\t{{.CurrentState}}\t{{.NodeID}}\t{{.Spec.Image}}`, want: "" +
			"ID             CURRENT STATE           NODE ID   IMAGE\n" +
			"abc123def456   Running 3 seconds ago   n1        nginx:1\n" +
			"xyz789         Pending                 n2        pg<16>\n"},
		{name: "custom table with helpers keeps headers", format: `table {{upper .Name}}\t{{join .Labels ","}}\t{{truncate .ID 4}}`, want: "" +
			"NAME         LABELS    ID\n" +
			"WEB          a=1,b=2   abc1\n" +
			"DB-PRIMARY             xyz7\n"},
		{name: "custom table nested parent and child", format: `table {{.Spec.Name}}\t{{.Spec}}`, rows: rows[:1], want: "" +
			"NAME      SPEC\n" +
			"web       {web nginx:1}\n"},
		{name: "raw template", format: `{{.ID}} {{.Name}}`, want: "" +
			"abc123def456 web\n" +
			"xyz789 db-primary\n"},
		{name: "raw template escapes", format: `{{.Name}}\t{{.Mode}}\n`, want: "" +
			"web\treplicated\n\n" +
			"db-primary\tglobal\n\n"},
		{name: "raw template no rows", format: `{{.ID}}`, rows: []row{}, want: ""},
		{name: "json", format: "json", want: "" +
			`{"ID":"abc123def456","Name":"web","Mode":"replicated","Replicas":"3/3","CurrentState":"Running 3 seconds ago","NodeID":"n1","Labels":["a=1","b=2"],"Spec":{"Name":"web","image":"nginx:1"}}` + "\n" +
			`{"ID":"xyz789","Name":"db-primary","Mode":"global","Replicas":"1/1","CurrentState":"Pending","NodeID":"n2","Labels":null,"Spec":{"Name":"db","image":"pg<16>"}}` + "\n"},
		{name: "quiet", quiet: true, want: "abc123def456\nxyz789\n"},
		{name: "quiet no rows", quiet: true, rows: []row{}, want: ""},
		{name: "pointer rows", format: "{{.Name}}", rows: []*row{&rows[0]}, want: "web\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			in := tt.rows
			if in == nil {
				in = rows
			}
			tab := Table{Columns: columns, Format: tt.format, Quiet: tt.quiet, Stderr: &errOut}
			if err := tab.Write(&out, in); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if errOut.Len() != 0 {
				t.Errorf("unexpected stderr %q", errOut.String())
			}
		})
	}
}

// Docker ignores --format when -q is given, warning on stderr.
func TestTableQuietWithFormat(t *testing.T) {
	for _, f := range []string{"{{.Name}}", "json", "table {{.Name}}"} {
		var out, errOut bytes.Buffer
		tab := Table{Columns: columns, IDField: "Name", Format: f, Quiet: true, Stderr: &errOut}
		if err := tab.Write(&out, rows); err != nil {
			t.Fatalf("%s: Write: %v", f, err)
		}
		if got, want := out.String(), "web\ndb-primary\n"; got != want {
			t.Errorf("%s: got %q, want %q", f, got, want)
		}
		if got, want := errOut.String(), QuietFormatWarning+"\n"; got != want {
			t.Errorf("%s: stderr %q, want %q", f, got, want)
		}
	}
}

func TestTableErrors(t *testing.T) {
	tests := []struct {
		name   string
		format string
		cols   []Column
		rows   any
		want   string
	}{
		{name: "parse error", format: "{{.ID", want: "template parsing error: template: :1: unclosed action"},
		{name: "parse error no rows", format: "table {{.ID", rows: []row{}, want: "template parsing error:"},
		{name: "unknown function", format: "{{nosuch .ID}}", want: `function "nosuch" not defined`},
		{name: "unknown field", format: "{{.Nope}}", want: "can't evaluate field Nope"},
		{name: "bad default column", cols: []Column{{Header: "X", Field: "{{.X"}}, want: "template parsing error"},
		{name: "no columns", cols: []Column{}, want: "no columns"},
		{name: "not a slice", format: "{{.ID}}", rows: rows[0], want: "want a slice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := tt.cols
			if cols == nil {
				cols = columns
			}
			in := tt.rows
			if in == nil {
				in = rows
			}
			var out bytes.Buffer
			err := Table{Columns: cols, Format: tt.format}.Write(&out, in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %q on error", out.String())
			}
		})
	}
}

func TestHeaderName(t *testing.T) {
	for in, want := range map[string]string{
		"ID": "ID", "Name": "NAME", "CurrentState": "CURRENT STATE",
		"NodeID": "NODE ID", "HTTPPort": "HTTP PORT", "Port80": "PORT80",
		"desired_state": "DESIRED STATE", "CreatedAt": "CREATED AT",
	} {
		if got := headerName(in); got != want {
			t.Errorf("headerName(%q) = %q, want %q", in, got, want)
		}
	}
}
