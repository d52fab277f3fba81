package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
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
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
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
func pathString(segs []string) string {
	var b strings.Builder
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil && i > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// at formats a problem at a path: "FILE:LINE:COL: PATH: MESSAGE".
func (l *loadState) at(segs []string, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if loc := l.locate(segs); loc != "" {
		return fmt.Errorf("%s: %s: %s", loc, pathString(segs), msg)
	}
	return fmt.Errorf("%s: %s", pathString(segs), msg)
}

// ---- explaining compose-go's errors ----

// explain records a failure of compose-go with every problem the files
// have: compose-go stops at the first schema error and gives no line, so
// the files are checked again here, each problem with its position.
func (l *loadState) explain(err error) {
	var lp *loaderPanic
	if errors.As(err, &lp) {
		l.fail(err)
		return
	}
	diag, diagPaths := l.diagnose()
	l.errs = append(l.errs, diag...)
	diagText := make([]string, len(diag))
	for i, d := range diag {
		diagText[i] = d.Error()
	}
	covered := func(msg string) bool {
		for _, d := range diagText {
			if strings.Contains(d, msg) {
				return true
			}
		}
		// A message about a path the checks above found a problem at.
		if segs := messagePath(msg); segs != nil {
			for _, d := range diagPaths {
				if d == strings.Join(segs, ".") {
					return true
				}
			}
		}
		return false
	}
	for _, e := range splitErrors(err) {
		msg := l.displayNames(e.Error())
		if strings.HasPrefix(msg, "validating ") && len(diag) > 0 {
			// The schema check above lists this one and the others.
			continue
		}
		if strings.HasPrefix(msg, "decoding failed due to the following error(s):") {
			lines := strings.Split(msg, "\n")[1:]
			sort.Strings(lines) // mapstructure follows map order
			for _, line := range lines {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				segs, rest := decodePath(line)
				if covered(rest) {
					continue
				}
				if segs != nil {
					l.fail(l.at(segs, "%s", rest))
				} else {
					l.fail(errors.New(line))
				}
			}
			continue
		}
		if covered(msg) {
			continue
		}
		l.fail(l.locateMessage(msg))
	}
}

// splitErrors flattens joined errors; nil gives none.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// decodePath reads a mapstructure error line:
// 'services[web].healthcheck.timeout' time: unknown unit "y" ...
func decodePath(line string) ([]string, string) {
	if !strings.HasPrefix(line, "'") {
		return nil, line
	}
	end := strings.Index(line[1:], "'")
	if end < 0 {
		return nil, line
	}
	p := line[1 : end+1]
	rest := strings.TrimSpace(line[end+2:])
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	return strings.Split(p, "."), rest
}

var messagePathRE = regexp.MustCompile(`\b((?:services|networks|volumes|configs|secrets)\.[A-Za-z0-9_.\-\[\]]+)`)

// locateMessage prefixes a compose-go message that names a path with the
// path's position.
func (l *loadState) locateMessage(msg string) error {
	if strings.Contains(msg, "line ") {
		return errors.New(msg)
	}
	segs := messagePath(msg)
	if segs == nil {
		return errors.New(msg)
	}
	if loc := l.locate(segs); loc != "" {
		return fmt.Errorf("%s: %s", loc, msg)
	}
	return errors.New(msg)
}

// messagePath finds the model path a compose-go message names.
func messagePath(msg string) []string {
	m := messagePathRE.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	p := strings.TrimRight(m[1], ".")
	p = strings.NewReplacer("[]", "", "[", ".", "]", "").Replace(p)
	var segs []string
	for _, s := range strings.Split(p, ".") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// displayNames puts the files' names as the user gave them into a
// compose-go message, which uses absolute paths.
func (l *loadState) displayNames(msg string) string {
	for _, f := range l.files {
		if f.path == "-" {
			msg = strings.ReplaceAll(msg, "failed to parse -:", "failed to parse stdin:")
			msg = strings.ReplaceAll(msg, "validating -:", "validating stdin:")
			continue
		}
		if f.path != f.name {
			msg = strings.ReplaceAll(msg, f.path, f.name)
		}
	}
	return msg
}

// ---- diagnosis ----

// diagnose checks every file against the compose-spec schema and the
// short syntaxes compose-go parses (ports, volumes, durations), listing
// every problem with its position. Values still holding a ${VAR} are
// skipped: they are checked once interpolated.
func (l *loadState) diagnose() ([]error, []string) {
	type found struct {
		file, line, col int
		err             error
	}
	var all []found
	var paths []string
	seen := map[string]bool{}
	for fi, f := range l.files {
		for _, d := range f.docs {
			v, ok := nodeValue(d)
			if !ok {
				continue
			}
			add := func(segs []string, msg string) {
				n, _ := findPath(d, segs, 0)
				line, col := 0, 0
				loc := f.name
				if n != nil {
					line, col = n.Line, n.Column
					loc = fmt.Sprintf("%s:%d:%d", f.name, line, col)
				}
				text := fmt.Sprintf("%s: %s", loc, msg)
				if seen[text] {
					return
				}
				seen[text] = true
				paths = append(paths, strings.Join(segs, "."))
				all = append(all, found{fi, line, col, errors.New(text)})
			}
			for _, p := range schemaProblems(v) {
				add(p.segs, p.msg)
			}
			for _, p := range syntaxProblems(v) {
				add(p.segs, p.msg)
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
	out := make([]error, len(all))
	for i, f := range all {
		out[i] = f.err
	}
	return out, paths
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
