// Package compose loads Docker Swarm stack files (compose files) into the
// service, config, secret and network specs of a shoal stack, the way
// `docker stack deploy -c FILE STACK` reads them.
//
// Parsing, interpolation, merging of several files, env_file and the
// compose-spec schema are compose-go's; this package maps the result onto
// the api types, names what the stack creates STACK_NAME, and reports every
// problem it finds with the file, line and path it comes from.
package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoalproject/shoal/api"
)

// Options says what to load.
type Options struct {
	// Files are the compose files, merged in order (later files override
	// earlier ones, as with several -c flags). "-" reads Stdin. A relative
	// path is taken from WorkingDir when it is set, else from the current
	// directory.
	Files []string
	// Stdin is read for a file named "-".
	Stdin io.Reader
	// Project is the stack name; what the stack creates is named
	// PROJECT_NAME.
	Project string
	// Env is the caller's environment, used for ${VAR} interpolation,
	// environment entries without a value, and config or secret
	// `environment:` sources. A .env file beside the first file adds to it
	// (docker stack deploy reads none, so a warning names the variables it
	// gave); the caller's values win. The process environment is never
	// read.
	Env map[string]string
	// WorkingDir is where relative paths in the files (bind mounts,
	// env_file, config and secret files) start; by default the directory of
	// the first file (the current directory when it is stdin).
	WorkingDir string
}

// Stack is what a stack file asks for.
type Stack struct {
	Name string
	// Services, sorted by name.
	Services []api.ServiceSpec
	// Configs and Secrets the file declares, sorted by key: the ones the
	// stack creates (with their data), and external ones, which must
	// already exist.
	Configs []StackObject
	Secrets []StackObject
	// Networks the services attach to, sorted by name: the ones the stack
	// creates (including STACK_default when a service lists no network)
	// and external ones, which must already exist.
	Networks []NetworkRef
	// Warnings are lines to show the user, such as
	// "Ignoring unsupported options: build, restart".
	Warnings []string `json:",omitempty"`
}

// StackObject is a config or secret of a stack.
type StackObject struct {
	// Key is the object's name in the compose file.
	Key string
	// Name is the object's actual name: STACK_KEY for one the stack
	// creates, unless the file gives a `name:`; for an external object its
	// `name:` or else its key.
	Name string
	// External objects are not created; they must exist.
	External bool `json:",omitempty"`
	// Labels of an object the stack creates, with the stack's namespace
	// label.
	Labels map[string]string `json:",omitempty"`
	// Data of an object the stack creates.
	Data []byte `json:",omitempty"`
	// Source tells where Data came from: the file's path, "env:VAR" or
	// "content".
	Source string `json:",omitempty"`
}

// ConfigSpec returns the spec of a config the stack creates.
func (o StackObject) ConfigSpec() api.ConfigSpec {
	return api.ConfigSpec{Name: o.Name, Labels: copyMap(o.Labels), Data: append([]byte(nil), o.Data...)}
}

// SecretSpec returns the spec of a secret the stack creates.
func (o StackObject) SecretSpec() api.SecretSpec {
	return api.SecretSpec{Name: o.Name, Labels: copyMap(o.Labels), Data: append([]byte(nil), o.Data...)}
}

// NetworkRef is a network the stack's services attach to.
type NetworkRef struct {
	// Key is the network's name in the compose file ("default" for the
	// implicit one).
	Key string
	// Name is the actual name, as for StackObject.
	Name string
	// External networks are not created; they must exist.
	External bool `json:",omitempty"`
	// Driver, Labels (with the namespace label), Attachable and Internal
	// describe a network the stack creates.
	Driver     string            `json:",omitempty"`
	Labels     map[string]string `json:",omitempty"`
	Attachable bool              `json:",omitempty"`
	Internal   bool              `json:",omitempty"`
	// IPAM is the subnet (and gateway) of ipam.config, if any.
	IPAM *api.IPAM `json:",omitempty"`
}

// Spec returns the spec of a network the stack creates.
func (n NetworkRef) Spec() api.NetworkSpec {
	spec := api.NetworkSpec{Name: n.Name, Labels: copyMap(n.Labels), Driver: n.Driver, Attachable: n.Attachable, Internal: n.Internal}
	if n.IPAM != nil {
		spec.IPAM = &api.IPAM{Config: append([]api.IPAMConfig(nil), n.IPAM.Config...)}
	}
	return spec
}

// defaultNetworkDriver is what docker stack deploy creates networks with.
const defaultNetworkDriver = "overlay"

// Load reads, merges and converts the stack files. On any problem it
// returns no stack and an error listing every problem found (joined with
// errors.Join), each naming its file, line and path where known.
func Load(ctx context.Context, opts Options) (*Stack, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := &loadState{opts: opts}
	return l.load(ctx)
}

// sourceFile is one compose file as read.
type sourceFile struct {
	name    string // as the user gave it, for messages
	path    string // absolute path, or "-"
	content []byte
	docs    []*yamlNode // parsed documents, for positions
	// pruned is content without the values diagnose refused, which
	// compose-go reads instead when set.
	pruned []byte
}

type loadState struct {
	opts     Options
	stack    string // the stack name as given
	projName string // the project name given to compose-go (lower case)
	wd       string
	env      map[string]string
	files    []*sourceFile
	errs     []error
	warnings []string
	// unsupported and deprecated options found, for the warning lines.
	unsupported map[string]bool
	deprecated  map[string]bool
	// diag is what the checks before compose-go found (diagnose).
	diag *diagnosis
	// refused are the paths of the values left out of what compose-go
	// reads (pruneRefused).
	refused [][]string
}

func (l *loadState) fail(err error) {
	if errors.Is(err, errRefused) {
		return
	}
	l.errs = append(l.errs, err)
}

func (l *loadState) failf(format string, a ...any) { l.fail(fmt.Errorf(format, a...)) }

func (l *loadState) result() error { return errors.Join(l.errs...) }

func (l *loadState) load(ctx context.Context) (*Stack, error) {
	l.stack = l.opts.Project
	if err := api.ValidateName("stack", l.stack); err != nil {
		l.fail(err)
		// Go on with a stand-in so that the files' problems are listed too.
		l.projName = "stack"
	} else {
		l.projName = strings.ToLower(l.stack)
	}

	if !l.readFiles() {
		return nil, l.result()
	}
	l.loadEnv()
	l.checkKeys()
	// The schema and type checks first: compose-go stops at the first
	// problem, and some invalid input makes it fail without saying where.
	// compose-go then reads the files without what they refused, so that
	// the problems of the rest are listed too.
	if l.reportDiagnosis() && !l.pruneRefused() {
		return nil, l.result()
	}

	project, ok := l.compose(ctx)
	if !ok {
		return nil, l.result()
	}
	st := l.convert(project)
	if len(l.errs) > 0 {
		return nil, l.result()
	}
	if len(l.unsupported) > 0 {
		st.Warnings = append(st.Warnings, "Ignoring unsupported options: "+sortedKeys(l.unsupported))
	}
	if len(l.deprecated) > 0 {
		st.Warnings = append(st.Warnings, "Ignoring deprecated options: "+sortedKeys(l.deprecated))
	}
	st.Warnings = append(st.Warnings, l.warnings...)
	return st, nil
}

// readFiles reads and parses every file, recording read and YAML syntax
// errors for all of them; it reports whether all were read.
func (l *loadState) readFiles() bool {
	if len(l.opts.Files) == 0 {
		l.failf("no compose file given")
		return false
	}
	ok := true
	cwd := l.opts.WorkingDir
	if cwd == "" {
		var err error
		if cwd, err = os.Getwd(); err != nil {
			l.failf("current directory: %v", err)
			return false
		}
	} else if abs, err := filepath.Abs(cwd); err == nil {
		cwd = abs
	}
	stdinRead := false
	for _, name := range l.opts.Files {
		f := &sourceFile{name: name}
		if name == "-" {
			f.name, f.path = "stdin", "-"
			if l.opts.Stdin == nil {
				l.failf("compose file \"-\": no standard input to read")
				ok = false
				continue
			}
			if stdinRead {
				l.failf("compose file \"-\" given twice: standard input can be read once")
				ok = false
				continue
			}
			stdinRead = true
			b, err := io.ReadAll(l.opts.Stdin)
			if err != nil {
				l.failf("read compose file from stdin: %v", err)
				ok = false
				continue
			}
			f.content = b
		} else {
			p := name
			if !filepath.IsAbs(p) {
				p = filepath.Join(cwd, p)
			}
			f.path = filepath.Clean(p)
			b, err := os.ReadFile(f.path)
			if err != nil {
				l.failf("read compose file %s: %v", name, unwrapPathError(err))
				ok = false
				continue
			}
			f.content = b
		}
		var docs []*yamlNode
		err := safely(func() error {
			var err error
			docs, err = parseYAML(f.content)
			return err
		})
		if err != nil {
			l.failf("%s: %v", f.name, err)
			ok = false
		} else {
			f.docs = docs
		}
		l.files = append(l.files, f)
	}
	if l.opts.WorkingDir != "" {
		l.wd = cwd
	} else if len(l.files) > 0 && l.files[0].path != "-" {
		l.wd = filepath.Dir(l.files[0].path)
	} else {
		l.wd = cwd
	}
	return ok
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadEnv builds the environment: the caller's, plus a .env beside the
// first file for variables the caller does not set, named in a warning.
func (l *loadState) loadEnv() {
	l.env = map[string]string{}
	dir := l.wd
	if len(l.files) > 0 && l.files[0].path != "-" {
		dir = filepath.Dir(l.files[0].path)
	}
	dotEnv := filepath.Join(dir, ".env")
	if st, err := os.Stat(dotEnv); err == nil && !st.IsDir() {
		caller := l.opts.Env
		if caller == nil {
			caller = map[string]string{}
		}
		vars, err := dotenv.GetEnvFromFile(caller, []string{dotEnv})
		if err != nil {
			l.failf("%s: %v", dotEnv, err)
		}
		var used []string
		for k, v := range vars {
			l.env[k] = v
			if _, set := caller[k]; !set {
				used = append(used, k)
			}
		}
		if len(used) > 0 {
			// docker stack deploy reads no .env: say what these files get
			// from it, so that nobody is surprised when docker deploys
			// them without these values.
			sort.Strings(used)
			l.warnings = append(l.warnings, fmt.Sprintf("Using %s from %s: docker stack deploy reads no .env file, and would leave them unset",
				strings.Join(used, ", "), dotEnv))
		}
	}
	for k, v := range l.opts.Env {
		l.env[k] = v
	}
}

// compose runs compose-go: parse, interpolate, merge, validate against the
// compose-spec schema, normalise, and bind to its types.
func (l *loadState) compose(ctx context.Context) (*types.Project, bool) {
	env := copyMap(l.env)
	details := types.ConfigDetails{WorkingDir: l.wd, Environment: env}
	for _, f := range l.files {
		content := f.content
		if f.pruned != nil {
			content = f.pruned
		}
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: f.path, Content: content})
	}
	setOpts := func(o *loader.Options) {
		o.SetProjectName(l.projName, true)
		// Checked here instead, to list every problem rather than the
		// first one.
		o.SkipConsistencyCheck = true
		o.ResolvePaths = true
		// A stack has no profiles: every service is deployed.
		o.Profiles = []string{"*"}
	}

	var (
		model   map[string]any
		project *types.Project
		err     error
		logs    []string
	)
	withComposeLog(&logs, func() {
		err = safely(func() error {
			var err error
			model, err = loader.LoadModelWithContext(ctx, details, setOpts)
			return err
		})
		if err != nil {
			return
		}
		lo := loader.ToOptions(&details, []func(*loader.Options){setOpts})
		err = safely(func() error {
			var err error
			project, err = loader.ModelToProject(model, lo, details)
			return err
		})
	})
	sort.Strings(logs)
	for _, m := range logs {
		if strings.Contains(m, "`version` is obsolete") {
			// docker stack deploy reads version 3 files; the key is fine.
			continue
		}
		l.warnings = append(l.warnings, m)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			l.fail(ctxErr)
			return nil, false
		}
		l.explain(err)
		return nil, false
	}
	return project, true
}

// convert maps the compose-go project onto the stack, recording problems.
func (l *loadState) convert(p *types.Project) *Stack {
	c := &converter{l: l, p: p, stack: l.stack, usedNets: map[string]bool{}}
	st := &Stack{Name: l.stack}
	st.Configs = c.configs()
	st.Secrets = c.secrets()
	c.volumes()

	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if spec, ok := c.service(p.Services[name]); ok {
			st.Services = append(st.Services, spec)
		}
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	c.checkPublishedPorts(st.Services)
	st.Networks = c.networks()
	return st
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// safely runs f, turning a panic in the third-party loader into an error.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &loaderPanic{value: r}
		}
	}()
	return f()
}

// loaderPanic is a panic of compose-go, reported as an error rather than
// crashing the caller.
type loaderPanic struct{ value any }

func (p *loaderPanic) Error() string {
	return fmt.Sprintf("the compose file could not be read (compose loader failure: %v)", p.value)
}
