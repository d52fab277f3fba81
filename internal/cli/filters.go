package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// filterOpt is docker's -f/--filter: KEY=VALUE, repeatable. A value
// without "=" is refused while the flags are parsed (exit 125, docker's
// "bad format of filter" wording); a key the command does not know is
// refused by check with docker's "invalid filter 'KEY'" (exit 1: docker's
// daemon refuses it).
type filterOpt struct {
	set map[string][]string
}

var _ pflag.Value = (*filterOpt)(nil)

func (f *filterOpt) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok || k == "" {
		return errors.New("bad format of filter (expected name=value)")
	}
	if f.set == nil {
		f.set = map[string][]string{}
	}
	f.set[k] = append(f.set[k], strings.TrimSpace(v))
	return nil
}

func (f *filterOpt) String() string {
	var parts []string
	for k, vs := range f.set {
		for _, v := range vs {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (f *filterOpt) Type() string { return "filter" }

// addFilterFlag adds -f/--filter to fs.
func addFilterFlag(fs *pflag.FlagSet, f *filterOpt, keys string) {
	fs.VarP(f, "filter", "f", "filter output based on conditions provided ("+keys+")")
}

// check refuses keys other than those given.
func (f *filterOpt) check(keys ...string) error {
	var bad []string
	for k := range f.set {
		found := false
		for _, want := range keys {
			found = found || k == want
		}
		if !found {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("invalid filter '%s'", bad[0])
}

// any reports whether key has values: a filter with no values keeps all.
func (f *filterOpt) has(key string) bool { return len(f.set[key]) > 0 }

// match reports whether key's filter keeps s: true without the filter, or
// if one of its values matches s as match says.
func (f *filterOpt) match(key, s string, match func(s, value string) bool) bool {
	if !f.has(key) {
		return true
	}
	for _, v := range f.set[key] {
		if match(s, v) {
			return true
		}
	}
	return false
}

// matchFold is exact matching, ignoring case (modes, roles, states).
func matchFold(s, v string) bool { return strings.EqualFold(s, v) }

// matchExact is exact matching.
func matchExact(s, v string) bool { return s == v }

// matchLabels reports whether labels have every label=KEY or
// label=KEY=VALUE the filter names (docker's rule: all must match).
func (f *filterOpt) matchLabels(key string, labels map[string]string) bool {
	for _, want := range f.set[key] {
		k, v, withValue := strings.Cut(want, "=")
		got, ok := labels[k]
		if !ok || (withValue && got != v) {
			return false
		}
	}
	return true
}
