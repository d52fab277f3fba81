package ingress

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

func TestPathRuleClean(t *testing.T) {
	allowAll := pathRule{allowSlash: true, allowBackslash: true}
	for _, c := range []struct {
		in   string
		rule pathRule
		want string
		err  error
	}{
		{in: "/", want: "/"},
		{in: "", want: ""},
		{in: "*", want: "*"},
		{in: "/a/b.txt", want: "/a/b.txt"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/a/./b", want: "/a/b"},
		{in: "/a/../b", want: "/b"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/a/b/.", want: "/a/b/"},
		{in: "/..", want: "/"},
		{in: "/../../a", want: "/a"},
		{in: "//", want: "/"},
		{in: "//a//b//", want: "/a/b/"},
		{in: "/.a/..b/.../a..", want: "/.a/..b/.../a.."},
		{in: "/a/%2e%2E/b", want: "/b"},
		{in: "/a/%2e./%2E", want: "/"},
		{in: "/%41%7e%5F%2D%30", want: "/A~_-0"},
		{in: "/%c3%a9%20%3b", want: "/%C3%A9%20%3B"},
		{in: "/a|b", want: "/a%7Cb"},
		{in: "/\xff\x80", want: "/%FF%80"},
		{in: "/a#b", want: "/a%23b"},
		{in: "/a%2fb", err: errEncodedSlash},
		{in: "/a%2F..", err: errEncodedSlash},
		{in: "/a%5cb", err: errEncodedBackslash},
		{in: "/a\\b", err: errEncodedBackslash},
		{in: "/a%2fb/../c", rule: pathRule{allowSlash: true}, want: "/c"},
		{in: "/a%2fb", rule: pathRule{allowSlash: true}, want: "/a%2Fb"},
		{in: "/a%5cb", rule: pathRule{allowSlash: true}, err: errEncodedBackslash},
		{in: "/a\\..", rule: allowAll, want: "/a%5C.."},
		{in: "/x/..%2f..%2f", rule: allowAll, want: "/x/..%2F..%2F"},
		{in: "a/b", err: errPathForm},
		{in: "/a%", err: errPathEscape},
		{in: "/a%4", err: errPathEscape},
		{in: "/a%zz", err: errPathEscape},
	} {
		got, err := c.rule.clean(c.in)
		if got != c.want || err != c.err {
			t.Errorf("%+v.clean(%q) = %q, %v; want %q, %v", c.rule, c.in, got, err, c.want, c.err)
		}
	}
}

// TestCleanPathNoAllocation: the rule costs no allocation when the path
// is already clean (nearly every request): on the fast path, and on the
// net/http path when the path has no escape.
func TestCleanPathNoAllocation(t *testing.T) {
	var pr pathRule
	for _, p := range []string{"/bench", "/a/b/c.txt?x=1", "/a%20b/%C3%A9", "/"} {
		r, _, err, ok := parseString(t, "GET "+p+" HTTP/1.1\r\nHost: h\r\n\r\n", 4096)
		if err != nil || !ok {
			t.Fatal(err, ok)
		}
		out := r.outTarget
		if n := testing.AllocsPerRun(100, func() {
			if err := r.cleanPath(pr); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("fast path, %s: %v allocations", p, n)
		}
		if r.outTarget != out {
			t.Errorf("fast path, %s: clean path sent on as %s", p, r.outTarget)
		}
		if strings.Contains(p, "%") {
			// net/url's EscapedPath allocates for these on the net/http
			// path (which parsing the request already does many times).
			continue
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + p + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() {
			if r2, err := pr.cleanRequest(req); err != nil || r2 != req {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("net/http path, %s: %v allocations", p, n)
		}
	}
}

// FuzzPathRuleClean checks clean's output: well-formed, clean, stable
// (cleaning it again changes nothing), and free of the encoded
// separators the rule refuses.
func FuzzPathRuleClean(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2E/%2f", "//a/./b/", "/a%5c\\", "/%41%c3%a9|", "/..%2F..", "*", "x/y", "/%"} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, p string, slash, backslash bool) {
		pr := pathRule{allowSlash: slash, allowBackslash: backslash}
		got, err := pr.clean(p)
		if err != nil || got == "" || got == "*" {
			return
		}
		checkCleanPath(t, pr, p, got)
	})
}

// checkCleanPath fails unless got, clean's answer for p, is clean and
// stable.
func checkCleanPath(t *testing.T, pr pathRule, p, got string) {
	t.Helper()
	if again, err := pr.clean(got); err != nil || again != got {
		t.Fatalf("clean(%q) = %q, cleaned again %q, %v", p, got, again, err)
	}
	if got[0] != '/' || strings.Contains(got, "//") {
		t.Fatalf("clean(%q) = %q", p, got)
	}
	for _, seg := range strings.Split(got[1:], "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("clean(%q) = %q: dot segment", p, got)
		}
	}
	for i := 0; i < len(got); i++ {
		switch c := got[i]; {
		case c == '%':
			e := got[i+1 : i+3]
			d := unhex(e[0])<<4 | unhex(e[1])
			if e != strings.ToUpper(e) || isUnreserved(d) || (d == '/' && !pr.allowSlash) || (d == '\\' && !pr.allowBackslash) {
				t.Fatalf("clean(%q) = %q: escape %%%s", p, got, e)
			}
			i += 2
		case !plainPathByte[c]:
			t.Fatalf("clean(%q) = %q: byte %q", p, got, c)
		}
	}
}
