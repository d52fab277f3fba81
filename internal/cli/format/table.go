// Package format renders list and inspect output the way the docker CLI
// does: default tables, --format templates (table, raw and json), -q, and
// human-readable times.
package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Format keywords understood by Table.Format, as in the docker CLI.
const (
	// TableKey prefixes a template that is rendered as an aligned table
	// with a header; on its own it selects the default table.
	TableKey = "table"
	// JSONKey prints each row as one JSON object per line.
	JSONKey = "json"
)

// QuietFormatWarning is what Table writes to its Stderr when both -q and
// --format are given; like docker, it then ignores the format and prints
// only IDs.
const QuietFormatWarning = "WARNING: Ignoring custom format, because both --format and --quiet are set."

// Column is one column of a list's default table.
type Column struct {
	// Header is the column's header as printed, e.g. "CURRENT STATE".
	Header string
	// Field is the cell's Go template, e.g. "{{.CurrentState}}".
	Field string
}

// Table renders rows the way docker's list commands do.
//
// An empty Format (or "table") gives the default table of Columns. A Format
// "table TEMPLATE" gives a table whose headers come from the fields used:
// a field that is a default column's field gets that column's header, any
// other is upper-cased and split at camel case ({{.CurrentState}} gives
// "CURRENT STATE"). A Format without the "table" prefix prints TEMPLATE once
// per row with no header, and "json" prints each row as JSON, one per line.
// Literal `\t` and `\n` in Format are read as tab and newline.
//
// Quiet prints only IDField of each row, one per line; if Format is also
// set, QuietFormatWarning goes to Stderr and Format is ignored, as in docker.
type Table struct {
	// Columns are the default table's columns.
	Columns []Column
	// IDField names the field printed by Quiet; empty means "ID".
	IDField string
	// Format is the user's --format value.
	Format string
	// Quiet is the user's -q flag.
	Quiet bool
	// Stderr receives warnings; nil means os.Stderr.
	Stderr io.Writer
}

// Write renders rows, a slice of arbitrary values (usually structs), to w.
// A template that fails to parse or execute gives an error starting
// "template parsing error:" and nothing is written.
func (t Table) Write(w io.Writer, rows any) error {
	items, err := toSlice(rows)
	if err != nil {
		return err
	}
	text, isTable, header, err := t.resolve()
	if err != nil {
		return err
	}
	tmpl, err := Parse(text)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	for _, row := range items {
		if err := tmpl.Execute(&body, row); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		body.WriteByte('\n')
	}
	if !isTable {
		_, err := body.WriteTo(w)
		return err
	}
	if header == nil {
		h := deriveHeader(tmpl, t.defaultHeaders())
		header = &h
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if _, err := io.WriteString(tw, *header+"\n"); err != nil {
		return err
	}
	if _, err := body.WriteTo(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// resolve picks the template to run per row, whether the output is a
// table, and the header when it is fixed (nil means derive it).
func (t Table) resolve() (text string, isTable bool, header *string, err error) {
	format := t.Format
	if t.Quiet {
		if format != "" {
			stderr := t.Stderr
			if stderr == nil {
				stderr = os.Stderr
			}
			fmt.Fprintln(stderr, QuietFormatWarning)
		}
		id := t.IDField
		if id == "" {
			id = "ID"
		}
		return "{{." + id + "}}", false, nil, nil
	}
	if format == "" || strings.TrimSpace(format) == TableKey {
		if len(t.Columns) == 0 {
			return "", false, nil, errors.New("format: no columns for the default table")
		}
		fields := make([]string, len(t.Columns))
		headers := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			fields[i], headers[i] = c.Field, c.Header
		}
		h := strings.Join(headers, "\t")
		return strings.Join(fields, "\t"), true, &h, nil
	}
	switch {
	case format == JSONKey:
		text = "{{json .}}"
	case strings.HasPrefix(format, TableKey):
		text, isTable = format[len(TableKey):], true
	default:
		text = format
	}
	text = strings.Trim(text, " ")
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	return text, isTable, nil, nil
}

// defaultHeaders maps the field chain of each single-field default column
// (e.g. "Spec.Name") to its header.
func (t Table) defaultHeaders() map[string]string {
	m := make(map[string]string)
	for _, c := range t.Columns {
		tmpl, err := Parse(c.Field)
		if err != nil {
			continue
		}
		if chains := fieldChains(tmpl); len(chains) == 1 {
			m[strings.Join(chains[0], ".")] = c.Header
		}
	}
	return m
}
