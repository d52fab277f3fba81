package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ---- diagnosis ----

// diagnose checks every file against the compose-spec schema, the short
// syntaxes compose-go parses (ports, volumes, durations) and the types of
// the values it reads as numbers or booleans, listing every problem with
// its position, one per key. Values still holding a ${VAR} are skipped:
// they are checked once interpolated. It runs once; later calls return
// the same problems and the paths they are at.
func (l *loadState) diagnose() ([]error, []string) {
	if l.diag != nil {
		return l.diag.errs, l.diag.paths
	}
	type found struct {
		file, line, col int
		err             error
	}
	d := &diagnosis{prune: map[int][][]string{}}
	l.diag = d
	var all []found
	for fi, f := range l.files {
		seen := map[string]bool{}
		for _, doc := range f.docs {
			v, ok := nodeValue(doc)
			if !ok {
				continue
			}
			add := func(p problem) {
				// One problem a key: the schema's "must be a string" and
				// the duration's "missing unit" say the same thing.
				key := strings.Join(p.segs, "\x00")
				if seen[key] {
					return
				}
				seen[key] = true
				n, _ := findPath(doc, p.segs, 0)
				line, col := 0, 0
				loc := f.name
				if n != nil {
					line, col = n.Line, n.Column
					loc = fmt.Sprintf("%s:%d:%d", f.name, line, col)
				}
				d.paths = append(d.paths, strings.Join(p.segs, "."))
				d.prune[fi] = append(d.prune[fi], p.segs)
				all = append(all, found{fi, line, col, fmt.Errorf("%s: %s", loc, p.msg)})
			}
			for _, check := range []func(any) []problem{schemaProblems, syntaxProblems, typeProblems} {
				for _, p := range check(v) {
					add(p)
				}
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		if a.col != b.col {
			return a.col < b.col
		}
		return a.err.Error() < b.err.Error()
	})
	d.errs = make([]error, len(all))
	for i, f := range all {
		d.errs[i] = f.err
	}
	return d.errs, d.paths
}

// diagnosis is what diagnose found.
type diagnosis struct {
	errs  []error
	paths []string // of errs, dotted
	// prune lists, by file index, the paths of the values refused, which
	// are left out of what compose-go reads so that it can check the rest.
	prune map[int][][]string
	// reported is set once errs are among the load's errors.
	reported bool
}

// reportDiagnosis adds the problems diagnose found to the load's errors,
// once, and says whether there were any.
func (l *loadState) reportDiagnosis() bool {
	errs, _ := l.diagnose()
	if !l.diag.reported {
		l.errs = append(l.errs, errs...)
		l.diag.reported = true
	}
	return len(errs) > 0
}

type problem struct {
	segs []string
	msg  string
}

var (
	schemaOnce     sync.Once
	compiledSchema *jsonschema.Schema
	// schemaErr says why the embedded schema did not compile; schema
	// checks are then off (the loader's own checks remain), and
	// TestEmbeddedSchemaCompiles fails, so a dependency bump that breaks
	// it is caught before release.
	schemaErr error
)

func composeSchema() *jsonschema.Schema {
	schemaOnce.Do(func() { compiledSchema, schemaErr = compileSchema() })
	return compiledSchema
}

func compileSchema() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema.Schema))
	if err != nil {
		return nil, fmt.Errorf("read the compose-spec schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("compose-spec.json", doc); err != nil {
		return nil, fmt.Errorf("add the compose-spec schema: %w", err)
	}
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		_, err := time.ParseDuration(s)
		return err
	}})
	sch, err := c.Compile("compose-spec.json")
	if err != nil {
		return nil, fmt.Errorf("compile the compose-spec schema: %w", err)
	}
	return sch, nil
}

// schemaProblems validates one file's model against the compose-spec
// schema and returns every independent failure.
func schemaProblems(v any) []problem {
	sch := composeSchema()
	if sch == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	err = sch.Validate(inst)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(verr, &leaves)
	p := message.NewPrinter(language.English)
	var out []problem
	for _, e := range leaves {
		segs := e.InstanceLocation
		if s, ok := valueAt(v, segs).(string); ok && strings.Contains(s, "$") {
			continue
		}
		switch k := e.ErrorKind.(type) {
		case *kind.FalseSchema:
			if len(segs) > 0 {
				parent, key := segs[:len(segs)-1], segs[len(segs)-1]
				// A service is an allOf with unevaluatedProperties: false,
				// so when one of its options is invalid, the schema also
				// calls every other option unevaluated. Only a key the
				// schema does not define is unknown.
				if isServicePath(parent) && serviceOptions()[key] {
					continue
				}
				out = append(out, problem{segs, unknownOption(parent, key)})
				continue
			}
		case *kind.AdditionalProperties:
			for _, prop := range k.Properties {
				s := append(append([]string{}, segs...), prop)
				out = append(out, problem{s, unknownOption(segs, prop)})
			}
			continue
		case *kind.Type:
			if len(segs) == 0 {
				out = append(out, problem{segs, "top-level object must be a mapping"})
				continue
			}
			out = append(out, problem{segs, fmt.Sprintf("%s must be a %s", pathString(segs), humanType(k.Want))})
			continue
		}
		where := pathString(segs)
		if where == "" {
			where = "top level:"
		}
		out = append(out, problem{segs, fmt.Sprintf("%s %s", where, e.ErrorKind.LocalizedString(p))})
	}
	return out
}

func unknownOption(parent []string, key string) string {
	if len(parent) == 0 {
		return fmt.Sprintf("unknown top-level option %q", key)
	}
	return fmt.Sprintf("%s: unknown option %q", pathString(parent), key)
}

// isServicePath reports whether a path is services.NAME (or a job or a
// pre_start hook, which are built the same way).
func isServicePath(segs []string) bool {
	switch {
	case len(segs) == 2:
		return segs[0] == "services" || segs[0] == "jobs"
	case len(segs) == 4:
		return segs[0] == "services" && segs[2] == "pre_start"
	}
	return false
}

var (
	serviceOptionsOnce sync.Once
	serviceOptionSet   map[string]bool
)

// serviceOptions are the options the compose-spec schema defines for a
// service.
func serviceOptions() map[string]bool {
	serviceOptionsOnce.Do(func() {
		serviceOptionSet = map[string]bool{}
		var doc struct {
			Defs map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"$defs"`
		}
		if err := json.Unmarshal([]byte(schema.Schema), &doc); err != nil {
			return
		}
		for _, def := range []string{"service", "job", "container_spec", "workload_spec", "pre_start_hook"} {
			for k := range doc.Defs[def].Properties {
				serviceOptionSet[k] = true
			}
		}
	})
	return serviceOptionSet
}

func humanType(want []string) string {
	names := make([]string, len(want))
	for i, w := range want {
		if w == "object" {
			w = "mapping"
		}
		names[i] = w
	}
	sort.Strings(names)
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// collectLeaves lists the independent failures of a validation: the
// leaves of the error tree, except that of a oneOf or anyOf only the most
// specific branch is kept (as compose-go does), since the others just say
// the value is not of that branch's shape.
func collectLeaves(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		*out = append(*out, mostSpecific(e))
		return
	}
	if len(e.Causes) == 0 {
		*out = append(*out, e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

func mostSpecific(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return e
	}
	var best *jsonschema.ValidationError
	for _, c := range e.Causes {
		c = mostSpecific(c)
		if specificity(c) > specificity(best) {
			best = c
		}
	}
	return best
}

func specificity(e *jsonschema.ValidationError) int {
	if e == nil {
		return -1
	}
	if _, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
		return len(e.InstanceLocation) + 1
	}
	return len(e.InstanceLocation)
}

// valueAt returns the value at a path of a decoded model, or nil.
func valueAt(v any, segs []string) any {
	for _, s := range segs {
		switch t := v.(type) {
		case map[string]any:
			v = t[s]
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// durationFields are the service fields compose-go reads as durations.
var durationFields = [][]string{
	{"stop_grace_period"},
	{"healthcheck", "interval"}, {"healthcheck", "timeout"},
	{"healthcheck", "start_period"}, {"healthcheck", "start_interval"},
	{"deploy", "update_config", "delay"}, {"deploy", "update_config", "monitor"},
	{"deploy", "rollback_config", "delay"}, {"deploy", "rollback_config", "monitor"},
	{"deploy", "restart_policy", "delay"}, {"deploy", "restart_policy", "window"},
}

// syntaxProblems checks the values compose-go parses after the schema
// check: durations, short port and volume syntax.
func syntaxProblems(v any) []problem {
	services, _ := valueAt(v, []string{"services"}).(map[string]any)
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []problem
	for _, name := range names {
		svc, ok := services[name].(map[string]any)
		if !ok {
			continue
		}
		base := []string{"services", name}
		for _, f := range durationFields {
			val := valueAt(svc, f)
			if val == nil {
				continue
			}
			if s, ok := val.(string); ok && strings.Contains(s, "$") {
				continue
			}
			var d types.Duration
			if err := d.DecodeMapstructure(val); err != nil {
				segs := append(append([]string{}, base...), f...)
				out = append(out, problem{segs, fmt.Sprintf("%s: %v", pathString(segs), err)})
			}
		}
		if ports, ok := svc["ports"].([]any); ok {
			for i, p := range ports {
				s, ok := p.(string)
				if !ok || strings.Contains(s, "$") {
					continue
				}
				if _, err := types.ParsePortConfig(s); err != nil {
					segs := append(append([]string{}, base...), "ports", strconv.Itoa(i))
					out = append(out, problem{segs, fmt.Sprintf("%s: %v", pathString(segs), err)})
				}
			}
		}
		if vols, ok := svc["volumes"].([]any); ok {
			for i, p := range vols {
				s, ok := p.(string)
				if !ok || strings.Contains(s, "$") {
					continue
				}
				if _, err := format.ParseVolume(s); err != nil {
					segs := append(append([]string{}, base...), "volumes", strconv.Itoa(i))
					out = append(out, problem{segs, fmt.Sprintf("%s: %v", pathString(segs), err)})
				}
			}
		}
	}
	return out
}
