package rules_test

import (
	"net/http/httptest"
	"testing"

	"github.com/shoalproject/shoal/internal/ingress/rules"
)

// FuzzParseRule checks that no rule text makes the parser or a compiled
// matcher panic, and that a rule that parses also matches without panic.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"Host(`example.com`)",
		"Host(`a.com`) && PathPrefix(`/api`)",
		"Host(`a`) || Host(`b`) && !Method(`POST`)",
		"(Host(`a`) || HostRegexp(`^b\\.`)) && !(Path(`/x`) || PathRegexp(`^/y/[0-9]+$`))",
		"Header(`X-Env`, `prod`) && HeaderRegexp(`User-Agent`, `(?i)curl`)",
		"Query(`v`, `2`) || Query(`debug`) || QueryRegexp(`id`, `^[0-9]+$`)",
		"ClientIP(`10.0.0.0/8`) || ClientIP(`::1`) || ClientIP(`192.168.1.1`)",
		`Host("double.quoted") && Path("/a\tb")`,
		"host(`lower`) && PATH(`/upper`)",
		"Host(`a`",
		"Host(`a`) &&",
		"!(",
		"Host(`a`...)",
		"f()()",
		"a.b(`c`)",
		"Host(`a`)[0]",
		"func(){}",
		"Host(1+2)",
		"ClientIP(`::ffff:10.0.0.0/104`)",
		"PathRegexp(`(`)",
		"\x00\xff",
	} {
		f.Add(s)
	}
	r := httptest.NewRequest("GET", "http://example.com:8080/api/x%2Fy%20z?v=2&debug&id=7&a+b=%41", nil)
	r.Header.Set("X-Env", "prod")
	r.RemoteAddr = "10.0.0.1:1234"
	f.Fuzz(func(t *testing.T, s string) {
		rule, err := rules.Parse(s)
		if err != nil {
			if rule != nil {
				t.Fatalf("Parse(%q) returned a rule and an error", s)
			}
			return
		}
		rule.Match(r)
		if rule.String() != s {
			t.Fatalf("String() = %q, want %q", rule.String(), s)
		}
	})
}
