package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/template"
)

// Funcs are the helper functions every template gets, as in the docker CLI:
// json, join, split, lower, upper, title, truncate (truncate s n) and
// pad (pad s left right). println and the other text/template builtins are
// available too.
var Funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"split": strings.Split,
	"join":  strings.Join,
	//nolint:staticcheck // docker uses strings.Title; it is fine for ASCII.
	"title":    strings.Title,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      pad,
	"truncate": truncate,
}

// headerFuncs replace Funcs when a table header is rendered from the row
// template, so that headers stay intact; pad is kept to preserve alignment.
var headerFuncs = template.FuncMap{
	"json":     func(v any) any { return v },
	"split":    func(v any, _ string) any { return v },
	"join":     func(v any, _ string) any { return v },
	"title":    func(v any) any { return v },
	"lower":    func(v any) any { return v },
	"upper":    func(v any) any { return v },
	"truncate": func(v any, _ int) any { return v },
}

// pad surrounds a non-empty s with left and right spaces.
func pad(s string, left, right int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", max(left, 0)) + s + strings.Repeat(" ", max(right, 0))
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	r := []rune(s)
	if n < 0 {
		n = 0
	}
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// Parse parses a Go template with the helper functions. A parse error is
// returned as "template parsing error: ...", as docker reports it.
func Parse(text string) (*template.Template, error) {
	t, err := template.New("").Funcs(Funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// Inspect writes objects (a slice) the way docker inspect does. With an
// empty format it writes one indented JSON array of all objects; with
// "json" a compact JSON array; otherwise it applies the template to each
// object and writes one line per object. A field the object's Go type does
// not have is looked up again in its JSON form, so JSON field names work
// too. Objects whose template fails are skipped and their errors returned
// together after the others have been written.
func Inspect(w io.Writer, objects any, format string) error {
	objs, err := toSlice(objects)
	if err != nil {
		return err
	}
	switch format {
	case "", "json":
		if objs == nil {
			objs = []any{}
		}
		var b []byte
		if format == "" {
			b, err = json.MarshalIndent(objs, "", "    ")
		} else {
			b, err = json.Marshal(objs)
		}
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	tmpl, err := Parse(format)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	var errs []error
	for _, obj := range objs {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, obj); err != nil {
			buf.Reset()
			if rawErr := executeRaw(tmpl, &buf, obj); rawErr != nil {
				errs = append(errs, fmt.Errorf("template parsing error: %w", err))
				continue
			}
		}
		buf.WriteByte('\n')
		out.Write(buf.Bytes())
	}
	if out.Len() == 0 {
		out.WriteByte('\n')
	}
	if _, err := out.WriteTo(w); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// executeRaw runs tmpl on the JSON form of obj, as docker's inspect
// fallback does.
func executeRaw(tmpl *template.Template, w io.Writer, obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	strict, err := tmpl.Clone()
	if err != nil {
		return err
	}
	return strict.Option("missingkey=error").Execute(w, raw)
}

// toSlice returns the elements of a slice or array; nil gives no elements.
func toSlice(v any) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.([]any); ok {
		return s, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("format: want a slice of rows, got %T", v)
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}
