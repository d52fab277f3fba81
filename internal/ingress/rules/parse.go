// Package rules parses Traefik v3 router rules ("Host(`a.example`) &&
// PathPrefix(`/api`)") into a typed matcher tree that is compiled once and
// evaluated per request without parsing, reflection or (for the common
// matchers) allocation.
//
// The grammar is Go's expression grammar, as in Traefik, so the text is
// parsed with go/parser: matcher calls combined with &&, || and !, grouped
// with parentheses; arguments are string literals in backticks or double
// quotes. && binds tighter than ||, as in Go. Matcher names are matched
// case-insensitively (Traefik accepts the canonical, lower, UPPER and Title
// spellings).
package rules

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// MaxRuleLength bounds the text of a rule; longer rules are refused.
const MaxRuleLength = 16 << 10

// MaxRegexpInput bounds what the HeaderRegexp and QueryRegexp matchers
// of a rule read: the values of one header, or of one query parameter,
// together. A regular expression costs time linear in its input times
// its size, and a header may be as long as the ingress's 1 MiB limit
// (one such value cost an unanchored HeaderRegexp a second of CPU). A
// request with more than this in a header or parameter that a rule's
// regular expression reads does not match that rule at all, negations
// included: it is routed as if the rule were not there. (nginx refuses
// any header line over 8 KiB by default.) Host and path are bounded
// before routing (1 KiB and 8 KiB).
const MaxRegexpInput = 8 << 10

// Rule is a parsed, compiled router rule. It is immutable and safe for
// concurrent use.
type Rule struct {
	text string
	root node
	// headers and queries are the header keys and query parameters the
	// rule's regular expressions read, whose size is checked first.
	headers, queries []string
}

// String returns the rule's source text.
func (r *Rule) String() string { return r.text }

// Match reports whether req satisfies the rule.
func (r *Rule) Match(req *http.Request) bool { return r.MatchRequest(httpRequest{req}) }

// MatchRequest reports whether req satisfies the rule; it is Match for
// requests that are not an *http.Request.
func (r *Rule) MatchRequest(req Request) bool {
	return r.regexpInputsFit(req) && r.root.match(req)
}

// regexpInputsFit reports whether each header and query parameter the
// rule's regular expressions read holds at most MaxRegexpInput bytes.
func (r *Rule) regexpInputsFit(req Request) bool {
	for _, k := range r.headers {
		n := 0
		for i := 0; ; i++ {
			v, ok := req.HeaderValue(k, i)
			if !ok {
				break
			}
			if n += len(v); n > MaxRegexpInput {
				return false
			}
		}
	}
	for _, k := range r.queries {
		n := 0
		if queryValues(req, k, func(v string) bool { n += len(v); return n > MaxRegexpInput }) {
			return false
		}
	}
	return true
}

// regexpInputs collects the header keys and query parameters the regular
// expressions under n read.
func (r *Rule) regexpInputs(n node) {
	switch x := n.(type) {
	case andNode:
		r.regexpInputs(x.l)
		r.regexpInputs(x.r)
	case orNode:
		r.regexpInputs(x.l)
		r.regexpInputs(x.r)
	case notNode:
		r.regexpInputs(x.x)
	case headerRegexpMatcher:
		r.headers = append(r.headers, x.key)
	case queryRegexpMatcher:
		r.queries = append(r.queries, x.key)
	}
}

// Parse parses and compiles a Traefik v3 rule. The error says what is wrong
// and where (a 1-based column in the rule text).
func Parse(rule string) (*Rule, error) {
	if strings.TrimSpace(rule) == "" {
		return nil, errors.New("empty rule")
	}
	if len(rule) > MaxRuleLength {
		return nil, fmt.Errorf("rule is %d bytes long, more than the %d allowed", len(rule), MaxRuleLength)
	}
	expr, err := parser.ParseExpr(rule)
	if err != nil {
		return nil, syntaxError(err)
	}
	root, err := compile(expr)
	if err != nil {
		return nil, err
	}
	r := &Rule{text: rule, root: root}
	r.regexpInputs(root)
	return r, nil
}

// syntaxError turns go/parser's error list into one short message.
func syntaxError(err error) error {
	var list interface{ Len() int }
	if errors.As(err, &list) && list.Len() > 0 {
		// scanner.ErrorList: report the first error only.
		msg := err.Error()
		if i := strings.Index(msg, " (and "); i > 0 {
			msg = msg[:i]
		}
		return fmt.Errorf("syntax error at %s", msg)
	}
	return fmt.Errorf("syntax error: %v", err)
}

func posError(p token.Pos, format string, args ...any) error {
	// ParseExpr positions count from 1 at the start of the text.
	return fmt.Errorf("column %d: %s", int(p), fmt.Sprintf(format, args...))
}

func compile(e ast.Expr) (node, error) {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return compile(x.X)
	case *ast.UnaryExpr:
		if x.Op != token.NOT {
			return nil, posError(x.OpPos, "unexpected operator %q (use !, && or ||)", x.Op)
		}
		inner, err := compile(x.X)
		if err != nil {
			return nil, err
		}
		if n, ok := inner.(notNode); ok {
			return n.x, nil
		}
		return notNode{inner}, nil
	case *ast.BinaryExpr:
		if x.Op != token.LAND && x.Op != token.LOR {
			return nil, posError(x.OpPos, "unexpected operator %q (use !, && or ||)", x.Op)
		}
		l, err := compile(x.X)
		if err != nil {
			return nil, err
		}
		r, err := compile(x.Y)
		if err != nil {
			return nil, err
		}
		if x.Op == token.LAND {
			return andNode{l, r}, nil
		}
		return orNode{l, r}, nil
	case *ast.CallExpr:
		return compileCall(x)
	case *ast.Ident:
		return nil, posError(x.Pos(), "%s is not a matcher call (missing arguments?)", x.Name)
	default:
		return nil, posError(e.Pos(), "unexpected %s; want a matcher such as Host(`example.com`)", describe(e))
	}
}

func describe(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.BasicLit:
		return "literal " + x.Value
	default:
		return strings.TrimPrefix(fmt.Sprintf("%T", e), "*ast.")
	}
}

// matcherSpec describes one matcher: its canonical name, how many
// arguments it takes, and how to build it from them.
type matcherSpec struct {
	name  string
	nargs []int
	build func(args []string) (node, error)
}

var matchers = map[string]matcherSpec{}

func init() {
	for _, m := range []matcherSpec{
		{"Host", []int{1}, buildHost},
		{"HostRegexp", []int{1}, buildHostRegexp},
		{"Path", []int{1}, buildPath},
		{"PathPrefix", []int{1}, buildPathPrefix},
		{"PathRegexp", []int{1}, buildPathRegexp},
		{"Method", []int{1}, buildMethod},
		{"Header", []int{2}, buildHeader},
		{"HeaderRegexp", []int{2}, buildHeaderRegexp},
		{"Query", []int{1, 2}, buildQuery},
		{"QueryRegexp", []int{1, 2}, buildQueryRegexp},
		{"ClientIP", []int{1}, buildClientIP},
	} {
		matchers[strings.ToLower(m.name)] = m
	}
}

func compileCall(c *ast.CallExpr) (node, error) {
	id, ok := c.Fun.(*ast.Ident)
	if !ok {
		return nil, posError(c.Fun.Pos(), "unexpected %s; want a matcher name", describe(c.Fun))
	}
	spec, ok := matchers[strings.ToLower(id.Name)]
	if !ok {
		return nil, posError(id.Pos(), "unknown matcher %s", id.Name)
	}
	if c.Ellipsis.IsValid() {
		return nil, posError(c.Ellipsis, "unexpected ... in %s", spec.name)
	}
	if !containsInt(spec.nargs, len(c.Args)) {
		return nil, posError(id.Pos(), "%s takes %s, got %d", spec.name, plural(spec.nargs), len(c.Args))
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		lit, ok := a.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return nil, posError(a.Pos(), "%s: argument %d must be a string in backticks or double quotes", spec.name, i+1)
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return nil, posError(a.Pos(), "%s: argument %d: %v", spec.name, i+1, err)
		}
		args[i] = s
	}
	n, err := spec.build(args)
	if err != nil {
		return nil, posError(id.Pos(), "%s: %v", spec.name, err)
	}
	return n, nil
}

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func plural(n []int) string {
	parts := make([]string, len(n))
	for i, v := range n {
		parts[i] = strconv.Itoa(v)
	}
	s := strings.Join(parts, " or ")
	if len(n) == 1 && n[0] == 1 {
		return s + " argument"
	}
	return s + " arguments"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func buildHost(a []string) (node, error) {
	h := a[0]
	if h == "" {
		return nil, errors.New("empty host")
	}
	if !isASCII(h) {
		return nil, fmt.Errorf("host %q has non-ASCII characters (use its punycode form)", h)
	}
	return hostMatcher{strings.TrimSuffix(strings.ToLower(h), ".")}, nil
}

func buildHostRegexp(a []string) (node, error) {
	if !isASCII(a[0]) {
		return nil, fmt.Errorf("regexp %q has non-ASCII characters", a[0])
	}
	re, err := regexp.Compile(a[0])
	if err != nil {
		return nil, err
	}
	return hostRegexpMatcher{re}, nil
}

func buildPath(a []string) (node, error) {
	if !strings.HasPrefix(a[0], "/") {
		return nil, fmt.Errorf("path %q does not start with /", a[0])
	}
	return pathMatcher{a[0]}, nil
}

func buildPathPrefix(a []string) (node, error) {
	if !strings.HasPrefix(a[0], "/") {
		return nil, fmt.Errorf("path %q does not start with /", a[0])
	}
	return pathPrefixMatcher{a[0]}, nil
}

func buildPathRegexp(a []string) (node, error) {
	re, err := regexp.Compile(a[0])
	if err != nil {
		return nil, err
	}
	return pathRegexpMatcher{re}, nil
}

func buildMethod(a []string) (node, error) {
	m := strings.ToUpper(a[0])
	if m == "" || strings.ContainsAny(m, " \t\r\n") {
		return nil, fmt.Errorf("invalid method %q", a[0])
	}
	return methodMatcher{m}, nil
}

func buildHeader(a []string) (node, error) {
	if a[0] == "" {
		return nil, errors.New("empty header name")
	}
	return headerMatcher{http.CanonicalHeaderKey(a[0]), a[1]}, nil
}

func buildHeaderRegexp(a []string) (node, error) {
	if a[0] == "" {
		return nil, errors.New("empty header name")
	}
	re, err := regexp.Compile(a[1])
	if err != nil {
		return nil, err
	}
	return headerRegexpMatcher{http.CanonicalHeaderKey(a[0]), re}, nil
}

func buildQuery(a []string) (node, error) {
	if a[0] == "" {
		return nil, errors.New("empty query parameter name")
	}
	v := ""
	if len(a) == 2 {
		v = a[1]
	}
	return queryMatcher{a[0], v}, nil
}

func buildQueryRegexp(a []string) (node, error) {
	if len(a) == 1 {
		return buildQuery(a)
	}
	if a[0] == "" {
		return nil, errors.New("empty query parameter name")
	}
	re, err := regexp.Compile(a[1])
	if err != nil {
		return nil, err
	}
	return queryRegexpMatcher{a[0], re}, nil
}

func buildClientIP(a []string) (node, error) {
	s := strings.TrimSpace(a[0])
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q", a[0])
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Remote addresses are compared unmapped, so ::ffff:a.b.c.d/n
			// is the IPv4 prefix a.b.c.d/(n-96).
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return clientIPMatcher{p}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("invalid IP %q", a[0])
	}
	ip = ip.Unmap().WithZone("")
	return clientIPMatcher{netip.PrefixFrom(ip, ip.BitLen())}, nil
}
