package middleware

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// options reads a middleware's options, as Traefik's label decoder:
// names are case-insensitive, lists are comma-separated, booleans are
// strconv's, durations a Go duration or a number of seconds. An option
// no reader asked for is an error (finish).
type options struct {
	opts  []Option
	used  []bool
	errs  []error
	files Files
}

func newOptions(opts []Option) *options {
	return &options{opts: opts, used: make([]bool, len(opts))}
}

func (o *options) fail(key, format string, args ...any) {
	o.errs = append(o.errs, &OptionError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// get returns the value of the option key.
func (o *options) get(key string) (string, bool) {
	for i, op := range o.opts {
		if strings.EqualFold(op.Key, key) {
			o.used[i] = true
			return strings.TrimSpace(op.Value), true
		}
	}
	return "", false
}

func (o *options) str(key, def string) string {
	if v, ok := o.get(key); ok {
		return v
	}
	return def
}

// list reads a comma-separated list; empty items are dropped.
func (o *options) list(key string) []string {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (o *options) boolean(key string) bool {
	v, ok := o.get(key)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		o.fail(key, "%q is not true or false", v)
	}
	return b
}

// integer reads a whole number of at least min.
func (o *options) integer(key string, def, min int64) int64 {
	v, ok := o.get(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min {
		o.fail(key, "%q is not a whole number of at least %d", v, min)
		return def
	}
	return n
}

// duration reads a positive duration: a Go duration or seconds.
func (o *options) duration(key string, def time.Duration) time.Duration {
	v, ok := o.get(key)
	if !ok {
		return def
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < 1<<31 {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		o.fail(key, "%q is not a positive duration (like 10s or 10)", v)
		return def
	}
	return d
}

// regexp compiles the option key's value (Go's RE2 syntax, as Traefik).
func (o *options) regexp(key, v string) *regexp.Regexp {
	re, err := regexp.Compile(v)
	if err != nil {
		o.fail(key, "%q is not a regular expression: %v", v, err)
		return nil
	}
	return re
}

// regexReplacement reads the regex and replacement options (both
// required) of the redirectregex and replacepathregex middlewares.
func (o *options) regexReplacement() (*regexp.Regexp, string) {
	v := o.str("regex", "")
	repl, hasRepl := o.get("replacement")
	re := o.regexp("regex", v)
	if o.required("regex", v) && !hasRepl {
		o.fail("replacement", "required")
	}
	return re, repl
}

// required reports a missing option.
func (o *options) required(key, v string) bool {
	if v == "" {
		o.fail(key, "required")
		return false
	}
	return true
}

// under returns the options below prefix ("customRequestHeaders"), each
// with the rest of its key as written, in label order.
func (o *options) under(prefix string) []Option {
	var out []Option
	for i, op := range o.opts {
		if len(op.Key) > len(prefix)+1 && op.Key[len(prefix)] == '.' && strings.EqualFold(op.Key[:len(prefix)], prefix) {
			o.used[i] = true
			out = append(out, Option{Key: op.Key[len(prefix)+1:], Value: op.Value})
		}
	}
	return out
}

// prefixes reads a list of IP addresses and CIDR ranges.
func (o *options) prefixes(key string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range o.list(key) {
		p, err := ParseIPRange(s)
		if err != nil {
			o.fail(key, "%q is not an IP address or CIDR range", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

// ParseIPRange reads an IP address (a range of one) or a CIDR range, as
// Traefik's sourceRange and trustedIPs; IPv4-mapped IPv6 addresses are
// read as IPv4.
func ParseIPRange(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// finish reports the problems found and every option not read.
func (o *options) finish() error {
	for i, op := range o.opts {
		if !o.used[i] {
			if op.Key == "" {
				o.fail("", "options are missing")
			} else {
				o.fail(op.Key, "unknown option")
			}
		}
	}
	return errors.Join(o.errs...)
}

// noOptions accepts a type with no option given
// (traefik.http.middlewares.NAME.TYPE=true), as Traefik.
func (o *options) noOptions() {
	for i, op := range o.opts {
		if op.Key == "" {
			o.used[i] = true
			if b, err := strconv.ParseBool(strings.TrimSpace(op.Value)); err != nil || !b {
				o.fail("", "%q: a middleware with no options takes true", op.Value)
			}
		}
	}
}

// userLine is one entry of an auth middleware's users, and the option it
// came from (for messages).
type userLine struct{ key, text string }

// users reads the users option (a list) and the lines of usersFile,
// merged as Traefik does: blank lines and lines starting with # are
// skipped. It reports "required" when neither gives a user, unless the
// file was not read here (ErrNotRead).
func (o *options) users() []userLine {
	var out []userLine
	for _, s := range o.list("users") {
		out = append(out, userLine{"users", s})
	}
	path, ok := o.get("usersFile")
	unread := false
	switch {
	case !ok:
	case o.files == nil:
		o.fail("usersFile", "no file can be read here")
		return out
	default:
		data, err := o.files(path)
		if errors.Is(err, ErrNotRead) {
			unread = true
			break
		}
		if err != nil {
			o.fail("usersFile", "%v", err)
			return out
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, userLine{"usersFile", line})
			}
		}
	}
	if len(out) == 0 && !unread {
		if ok {
			o.fail("usersFile", "%s lists no user", path)
		} else {
			o.fail("users", "required")
		}
	}
	return out
}
