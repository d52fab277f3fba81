package ingress

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/shoalproject/shoal/internal/filewatch"
)

// Reloading the TLS options without a restart, as Traefik's file
// provider does: the node's --ingress-tls-options file (with the
// caFiles it names) and --ingress-tls-client-ca are read again on
// SIGHUP and when they change on disk. A set that does not load
// changes nothing; one that does replaces the table's options at once
// (SetTLSOptions). Connections already open keep what their handshake
// got, and routeMisdirected keeps them from routers that now ask for
// client certificates.

// TLSFiles are the files a node's TLS options come from.
type TLSFiles struct {
	// Options is the --ingress-tls-options file, ClientCA the
	// --ingress-tls-client-ca file; either may be empty.
	Options, ClientCA string
}

// ReadTLSOptionsFile reads and parses an --ingress-tls-options file and
// the caFiles it names; an error names the field. An empty file is an
// error: read while a writer that truncated it has not written yet
// (`curl … > tls.yml`), it would drop every option, default's clientAuth
// among them.
func ReadTLSOptionsFile(path string) (*TLSOptionSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if noYAML(data) {
		return nil, errors.New("the file is empty (being written?); write tls: {} for no options")
	}
	return ParseTLSOptions(data, os.ReadFile)
}

// ReadClientCAFile reads the PEM CAs of an --ingress-tls-client-ca file.
func ReadClientCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}

// Load reads the options the files give: the options file's (Traefik's
// defaults without one), with ClientCA's CAs as default's clientAuth.
// An error names the file, and the field for the options file.
func (f TLSFiles) Load() (*TLSOptionSet, error) {
	set := DefaultTLSOptions()
	if f.Options != "" {
		s, err := ReadTLSOptionsFile(f.Options)
		if err != nil {
			return nil, fmt.Errorf("--ingress-tls-options %s: %w", f.Options, err)
		}
		set = s
	}
	if f.ClientCA != "" {
		pool, err := ReadClientCAFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("--ingress-tls-client-ca %s: %w", f.ClientCA, err)
		}
		if set, err = set.WithDefaultClientCAs(pool); err != nil {
			return nil, fmt.Errorf("--ingress-tls-client-ca %s: %w", f.ClientCA, err)
		}
	}
	return set, nil
}

// noYAML reports whether data holds no YAML document: nothing, or
// only blanks and comments.
func noYAML(data []byte) bool {
	var n yaml.Node
	return errors.Is(yaml.NewDecoder(bytes.NewReader(data)).Decode(&n), io.EOF)
}

// paths are the files set was read from, to watch.
func (f TLSFiles) paths(set *TLSOptionSet) []string {
	var out []string
	for _, p := range append([]string{f.Options, f.ClientCA}, set.caFiles...) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// TLSOptionsChange names the options a SetTLSOptions added, removed
// and changed.
type TLSOptionsChange struct {
	Added, Removed, Changed []string
}

// Empty reports whether nothing changed.
func (c TLSOptionsChange) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Changed) == 0
}

// SetTLSOptions makes set the websecure entry point's TLS options, all
// at once: every router is compiled again against them (a router
// naming options set lacks answers 503, one whose options now exist
// serves), and the handshakes that start after it returns get them.
// Options equal to the old ones of their name are kept as they were,
// so connections made under them still reach their routers. Nothing
// changes when set holds what the table has.
func (t *Table) SetTLSOptions(set *TLSOptionSet) TLSOptionsChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || set == nil {
		return TLSOptionsChange{}
	}
	old := t.tlsSet
	var ch TLSOptionsChange
	next := &TLSOptionSet{byName: make(map[string]*TLSOption, len(set.byName)), caFiles: set.caFiles, Warnings: set.Warnings}
	for n, o := range set.byName {
		prev := old.Lookup(n)
		switch {
		case prev == nil:
			ch.Added = append(ch.Added, n)
		case prev.equal(o):
			o = prev
		default:
			ch.Changed = append(ch.Changed, n)
		}
		next.byName[n] = o
	}
	for _, n := range old.Names() {
		if next.byName[n] == nil {
			ch.Removed = append(ch.Removed, n)
		}
	}
	sort.Strings(ch.Added)
	sort.Strings(ch.Changed)
	if ch.Empty() && old != nil {
		t.tlsSet = &TLSOptionSet{byName: old.byName, caFiles: set.caFiles, Warnings: old.Warnings}
		return ch
	}
	t.tlsSet = next
	var released []*backend
	for _, st := range t.services {
		released = append(released, t.rebuild(st)...)
	}
	t.publish(released)
	return ch
}

// TLSOptions are the TLS options in force (those of TableOptions, or
// of the last SetTLSOptions); nil when the table has none.
func (t *Table) TLSOptions() *TLSOptionSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tlsSet
}

// tlsPaths are the files the table's options were read from.
func (t *Table) tlsPaths(f TLSFiles) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return f.paths(t.tlsSet)
}

// TLSReloader reads a node's TLS options again into its table.
type TLSReloader struct {
	Files TLSFiles
	Table *Table
	Log   *slog.Logger
	// Debounce is how long the files must be quiet after a change
	// before they are read (default 200ms): an editor's or a
	// deployment's burst of writes is read once.
	Debounce time.Duration
	// newWatcher is filewatch.New (tests make it fail).
	newWatcher func(time.Duration, *slog.Logger) (*filewatch.Watcher, error)
}

// Reload reads the files again and, when they load, makes their options
// the table's. When they do not, the error is logged (naming the file
// and the field) and returned, and the options in force stay. asked
// says an operator asked for it (SIGHUP): the outcome is logged even
// when nothing changed.
func (r *TLSReloader) Reload(asked bool) error {
	set, err := r.Files.Load()
	if err != nil {
		r.Log.Error("ingress: TLS options not reloaded; the ones in force stay", "err", err)
		return err
	}
	ch := r.Table.SetTLSOptions(set)
	if ch.Empty() {
		if asked {
			r.Log.Info("ingress: TLS options reloaded: unchanged", "files", r.Files.paths(set))
		}
		return nil
	}
	for _, w := range set.Warnings {
		r.Log.Warn("ingress TLS options", "warning", w)
	}
	r.Log.Info("ingress: TLS options reloaded", "added", ch.Added, "removed", ch.Removed, "changed", ch.Changed)
	return nil
}

// Run reloads on every value of kick (SIGHUP) and whenever the files,
// the caFiles they name among them, change on disk, until ctx ends.
// It first reads them once, quietly, for a change made since they were
// read at start. Files it cannot watch are read on kicks only.
func (r *TLSReloader) Run(ctx context.Context, kick <-chan struct{}) error {
	d := r.Debounce
	if d <= 0 {
		d = 200 * time.Millisecond
	}
	newWatcher := r.newWatcher
	if newWatcher == nil {
		newWatcher = filewatch.New
	}
	w, err := newWatcher(d, r.Log)
	if err != nil {
		// No inotify instance left, say: SIGHUP still reloads.
		r.Log.Error("ingress: TLS options files not watched; they are read again on SIGHUP only", "err", err)
		_ = r.Reload(false)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-kick:
				_ = r.Reload(true)
			}
		}
	}
	w.Watch(r.Table.tlsPaths(r.Files))
	_ = r.Reload(false)
	w.Watch(r.Table.tlsPaths(r.Files))
	err = w.Run(ctx, kick, func(asked bool) {
		_ = r.Reload(asked)
		// The caFiles, or where a link points, may have changed.
		w.Watch(r.Table.tlsPaths(r.Files))
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
