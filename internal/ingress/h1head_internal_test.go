package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// parseString runs readHead and parse over raw as the fast path does.
func parseString(t testing.TB, raw string, limit int) (*reqHead, []byte, error, bool) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	head, err := readHead(br, nil, limit)
	if err != nil {
		return nil, head, err, false
	}
	r := &reqHead{remoteAddr: "192.0.2.1:1234"}
	ok := r.parse(string(head))
	return r, head, nil, ok
}

func TestParseHeadAccepts(t *testing.T) {
	for _, c := range []struct {
		name, raw                  string
		method, target, host, path string
		query                      string
		cl                         int64
		chunked, close             bool
		outTarget                  string
	}{
		{name: "minimal", raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", host: "a", path: "/", outTarget: "/"},
		{name: "leading CRLF", raw: "\r\n\r\nGET /x?y=1 HTTP/1.1\r\nHost: a:8080\r\n\r\n", method: "GET", target: "/x?y=1", host: "a:8080", path: "/x", query: "y=1", outTarget: "/x?y=1"},
		{name: "post with length", raw: "POST /p HTTP/1.1\r\nhost: b\r\ncontent-length: 5\r\n\r\nhello", method: "POST", target: "/p", host: "b", path: "/p", cl: 5, outTarget: "/p"},
		{name: "chunked", raw: "PUT /c HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", method: "PUT", target: "/c", host: "c", path: "/c", chunked: true, outTarget: "/c"},
		{name: "connection close", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", method: "GET", target: "/", host: "a", path: "/", close: true, outTarget: "/"},
		{name: "escaped path", raw: "GET /a%20b/%2F?q HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/a%20b/%2F?q", host: "a", path: "/a b//", query: "q", outTarget: "/a%20b/%2F?q"},
		{name: "path byte net/url escapes", raw: "GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/a|b", host: "a", path: "/a|b", outTarget: "/a%7Cb"},
		{name: "query with semicolon", raw: "GET /?a=1;b=2&c=3 HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/?a=1;b=2&c=3", host: "a", path: "/", query: "a=1;b=2&c=3", outTarget: "/?c=3"},
		{name: "empty host", raw: "GET / HTTP/1.1\r\nHost:\r\n\r\n", method: "GET", target: "/", path: "/", outTarget: "/"},
		{name: "OWS around value", raw: "GET / HTTP/1.1\r\nHost: \t a \t\r\nX: \r\n\r\n", method: "GET", target: "/", host: "a", path: "/", outTarget: "/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _, err, ok := parseString(t, c.raw, 1<<20)
			if err != nil || !ok {
				t.Fatalf("not accepted: %v %v", err, ok)
			}
			if r.method != c.method || r.target != c.target || r.host != c.host || r.URLPath() != c.path ||
				r.RawQuery() != c.query || r.contentLength != c.cl || r.chunked != c.chunked || r.close != c.close || r.outTarget != c.outTarget {
				t.Errorf("got %q %q host %q path %q query %q cl %d chunked %v close %v out %q", r.method, r.target, r.host,
					r.URLPath(), r.RawQuery(), r.contentLength, r.chunked, r.close, r.outTarget)
			}
		})
	}
}

// TestParseHeadDeclines lists requests the fast path leaves to net/http,
// which serves them (HTTP/1.0, upgrades, Expect) or refuses them (400).
func TestParseHeadDeclines(t *testing.T) {
	for name, raw := range map[string]string{
		"HTTP/1.0":            "GET / HTTP/1.0\r\n\r\n",
		"HTTP/2 preface":      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"absolute form":       "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"asterisk":            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT":             "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"upgrade":             "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"expect":              "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		"no host":             "GET / HTTP/1.1\r\n\r\n",
		"two hosts":           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"bad host":            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"space before colon":  "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"bad header name":     "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
		"obs-fold":            "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"bare LF":             "GET / HTTP/1.1\nHost: a\n\n",
		"control in value":    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
		"bad escape":          "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"bad length":          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"two lengths":         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"length and chunked":  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"gzip coding":         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"double space":        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"lower-case protocol": "GET / http/1.1\r\nHost: a\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err, ok := parseString(t, raw, 1<<20); err == nil && ok {
				t.Errorf("accepted %q", raw)
			}
		})
	}
}

func TestReadHeadLimit(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 10000) + "\r\n\r\n"
	if _, _, err, _ := parseString(t, raw, 5000); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("err = %v, want errHeadTooLarge", err)
	}
	// A head longer than the reader's buffer but within the limit is read.
	if r, _, err, ok := parseString(t, raw, 20000); err != nil || !ok || len(r.fields) != 2 {
		t.Fatalf("long head: %v %v", err, ok)
	}
	// Endless empty lines count against the limit too.
	if _, _, err, _ := parseString(t, strings.Repeat("\r\n", 100), 50); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("empty lines: err = %v", err)
	}
}

func TestHeaderViewMatchesNetHTTP(t *testing.T) {
	raw := "GET /p HTTP/1.1\r\nHost: h\r\nx-a: 1\r\nX-A: 2\r\ncookie: a=1; _s=\"v\"\r\nCookie: _s=w\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n"
	r, _, err, ok := parseString(t, raw, 1<<20)
	if err != nil || !ok {
		t.Fatal(err, ok)
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"X-A", "Cookie", "Host", "Transfer-Encoding"} {
		for i := 0; i < 3; i++ {
			v, ok := r.HeaderValue(key, i)
			want, wok := "", i < len(req.Header[key])
			if wok {
				want = req.Header[key][i]
			}
			if v != want || ok != wok {
				t.Errorf("HeaderValue(%s, %d) = %q %v, want %q %v", key, i, v, ok, want, wok)
			}
		}
	}
	ck, err := req.Cookie("_s")
	if v, ok := r.cookie("_s"); err != nil || !ok || v != ck.Value {
		t.Errorf("cookie = %q %v, net/http %v %v", v, ok, ck, err)
	}
	if _, ok := r.cookie("none"); ok {
		t.Errorf("cookie none found")
	}
}

func TestSplitPortMatchesNet(t *testing.T) {
	for _, h := range []string{"", "a", "a:", "a:80", "a:b:80", "[::1]", "[::1]:80", "[::1]80", "[::1]:80]", "[a]:b:c",
		"a]:80", "[a:80", "::1", "]:", "[]:", ":80"} {
		checkSplitPort(t, h)
	}
}

func checkSplitPort(t *testing.T, h string) {
	_, port, err := net.SplitHostPort(h)
	got, ok := splitPort(h)
	if ok != (err == nil) || (ok && got != port) {
		t.Errorf("splitPort(%q) = %q %v; net: %q %v", h, got, ok, port, err)
	}
}

func TestAppendCanonical(t *testing.T) {
	for _, n := range []string{"x-forwarded-for", "HOST", "content-TYPE", "a", "x_y-z", "X--Y", "1a-b"} {
		if got := string(appendCanonical(nil, n)); got != http.CanonicalHeaderKey(n) {
			t.Errorf("appendCanonical(%q) = %q, want %q", n, got, http.CanonicalHeaderKey(n))
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	for line, want := range map[string]int64{"0": 0, "a": 10, "FF": 255, "10;ext=1": 16, "5 \t": 5, "5;x ": 5, "7fffffffffffffff": 1<<63 - 1} {
		if n, ok := parseChunkSize([]byte(line)); !ok || n != want {
			t.Errorf("%q: %d %v, want %d", line, n, ok, want)
		}
	}
	for _, line := range []string{"", "x", "-1", "8000000000000000", "10000000000000000", " 5", ";x", "5 ;x"} {
		if n, ok := parseChunkSize([]byte(line)); ok {
			t.Errorf("%q accepted as %d", line, n)
		}
	}
}

func TestCopyChunked(t *testing.T) {
	for _, c := range []struct {
		name, in, out string
		n             int64
		max           int64
		err           error
	}{
		{name: "simple", in: "5\r\nhello\r\n0\r\n\r\n", out: "5\r\nhello\r\n0\r\n\r\n", n: 5},
		{name: "extensions and case", in: "5;a=b\r\nhello\r\nA\r\n0123456789\r\n0;x\r\n\r\n", out: "5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n", n: 15},
		{name: "trailers", in: "1\r\nx\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n", out: "1\r\nx\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n", n: 1},
		{name: "bare LF size line", in: "1\nx\r\n0\r\n\r\n", err: errBadChunk},
		{name: "missing CRLF after data", in: "1\r\nxy\r\n0\r\n\r\n", err: errBadChunk},
		{name: "bad size", in: "z\r\n", err: errBadChunk},
		{name: "truncated", in: "5\r\nhel", err: io.ErrUnexpectedEOF},
		{name: "bad trailer", in: "0\r\nnot a header\r\n\r\n", err: errBadChunk},
		{name: "too large", in: "5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n", max: 8, err: errBodyTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			in := c.in
			if c.err == nil {
				in += "NEXT" // what follows the body stays unread
			}
			br := bufio.NewReader(strings.NewReader(in))
			n, rerr, werr := copyChunked(w, br, c.max)
			_ = w.Flush()
			if werr != nil {
				t.Fatal(werr)
			}
			if c.err != nil {
				if !errors.Is(rerr, c.err) {
					t.Fatalf("err = %v, want %v", rerr, c.err)
				}
				return
			}
			if rerr != nil || out.String() != c.out || n != c.n {
				t.Errorf("got %q n=%d err %v, want %q n=%d", out.String(), n, rerr, c.out, c.n)
			}
			if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
				t.Errorf("left %q unread, want NEXT", rest)
			}
		})
	}
}

// FuzzParseHead checks that the parser never panics and that whatever it
// accepts, net/http reads the same way: method, target, host, headers,
// framing, the routing view and the target sent on.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p?q=1&r=%41 HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\nCookie: a=b; c=\"d\"\r\n\r\nabc",
		"PUT /a%2Fb;c HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: chunked\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
		"GET /?a;b HTTP/1.1\r\nhost: x\r\nte: trailers\r\n\r\n",
		"\r\nDELETE /{x}|y HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5.6.7.8\r\n\r\n",
		"GET /public/../secret.txt HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET /public/%2e%2E/s%41?q=/../x HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET /public/..%2fsecret.txt|x HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET //a/./b//..\\c%5c HTTP/1.1\r\nHost: site.test\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, head, err, ok := parseString(t, raw, 8192)
		if err != nil || !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path accepts %q, net/http refuses it: %v", head, err)
		}
		if req.Method != r.method || req.RequestURI != r.target || req.Host != r.host || req.ProtoMinor != 1 {
			t.Fatalf("%q: net/http %s %s %s, fast path %s %s %s", head, req.Method, req.RequestURI, req.Host, r.method, r.target, r.host)
		}
		if chunked := len(req.TransferEncoding) > 0; chunked != r.chunked || (!chunked && req.ContentLength != r.contentLength) {
			t.Fatalf("%q: framing: net/http %v %d, fast path %v %d", head, req.TransferEncoding, req.ContentLength, r.chunked, r.contentLength)
		}
		if req.Close != r.close {
			t.Fatalf("%q: close: net/http %v, fast path %v", head, req.Close, r.close)
		}
		if req.URL.Path != r.URLPath() || req.URL.RawPath != r.URLRawPath() || req.URL.EscapedPath() != r.EscapedPath() || req.URL.RawQuery != r.RawQuery() {
			t.Fatalf("%q: URL: net/http %q %q %q, fast path %q %q %q", head, req.URL.Path, req.URL.RawPath, req.URL.RawQuery, r.URLPath(), r.URLRawPath(), r.RawQuery())
		}
		out := *req.URL
		out.RawQuery = cleanQueryParams(out.RawQuery)
		if out.RequestURI() != r.outTarget {
			t.Fatalf("%q: target sent on: net/http %q, fast path %q", head, out.RequestURI(), r.outTarget)
		}
		for key, vs := range req.Header {
			for i, v := range vs {
				if got, ok := r.HeaderValue(key, i); !ok || got != v {
					t.Fatalf("%q: %s[%d]: net/http %q, fast path %q %v", head, key, i, v, got, ok)
				}
			}
			if _, ok := r.HeaderValue(key, len(vs)); ok {
				t.Fatalf("%q: %s: fast path has more than %d values", head, key, len(vs))
			}
		}
		for _, name := range []string{"a", "c", "_s"} {
			ck, err := req.Cookie(name)
			v, ok := r.cookie(name)
			if ok != (err == nil) || (ok && v != ck.Value) {
				t.Fatalf("%q: cookie %s: net/http %v %v, fast path %q %v", head, name, ck, err, v, ok)
			}
		}
		checkPathRuleAgrees(t, raw, head, req)
		if p, ok := splitPort(r.host); ok {
			if _, port, err := net.SplitHostPort(r.host); err != nil || port != p {
				t.Fatalf("splitPort(%q) = %q, net: %q %v", r.host, p, port, err)
			}
		}
	})
}

// checkPathRuleAgrees applies the path rule to a head the fast path
// accepts, on both request paths (req is net/http's reading of it), with
// and without encoded separators allowed: both refuse it with the same
// error or route and forward it on the same clean path, and each
// forwards the path it routes on.
func checkPathRuleAgrees(t *testing.T, raw string, head []byte, req *http.Request) {
	t.Helper()
	for _, pr := range []pathRule{{}, {allowSlash: true, allowBackslash: true}} {
		r, _, _, _ := parseString(t, raw, 8192)
		ferr := r.cleanPath(pr)
		req2, nerr := pr.cleanRequest(req)
		if ferr != nerr {
			t.Fatalf("%q %+v: fast path %v, net/http %v", head, pr, ferr, nerr)
		}
		if ferr != nil {
			continue
		}
		if req2.URL.Path != r.URLPath() || req2.URL.RawPath != r.URLRawPath() || req2.URL.EscapedPath() != r.EscapedPath() {
			t.Fatalf("%q %+v: routed on: net/http %q %q, fast path %q %q", head, pr, req2.URL.Path, req2.URL.RawPath, r.URLPath(), r.URLRawPath())
		}
		out := *req2.URL
		out.RawQuery = cleanQueryParams(out.RawQuery)
		if out.RequestURI() != r.outTarget {
			t.Fatalf("%q %+v: sent on: net/http %q, fast path %q", head, pr, out.RequestURI(), r.outTarget)
		}
		if sent, _, _ := strings.Cut(r.outTarget, "?"); sent != r.EscapedPath() {
			t.Fatalf("%q %+v: routed on %q, sent on %q", head, pr, r.EscapedPath(), sent)
		}
		if _, q, _ := strings.Cut(r.target, "?"); q != req.URL.RawQuery {
			t.Fatalf("%q: query changed to %q", head, req.URL.RawQuery)
		}
		checkCleanPath(t, pr, r.target, r.EscapedPath())
	}
}

// FuzzCopyChunked checks the chunked copier against net/http's chunked
// reader: what it accepts, net/http reads as the same data, and what it
// writes, net/http reads back the same.
func FuzzCopyChunked(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n", "a\r\n0123456789\r\n0\n\n", "0\r\n\r\n", "3 \t\r\nabc\r\n0\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		n, rerr, werr := copyChunked(w, bufio.NewReader(strings.NewReader(in)), 0)
		if werr != nil {
			t.Fatal(werr)
		}
		if rerr != nil {
			return
		}
		_ = w.Flush()
		want, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(in)))
		if err != nil {
			t.Fatalf("%q: copied, but net/http refuses it: %v", in, err)
		}
		got, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(out.Bytes())))
		if err != nil || !bytes.Equal(got, want) || int64(len(got)) != n {
			t.Fatalf("%q → %q: data %q (%v), want %q, n %d", in, out.Bytes(), got, err, want, n)
		}
	})
}

// FuzzResponseHead checks the backend response reader: it never panics,
// and a head it accepts, net/http reads with the same status and framing.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n0\r\n\r\n",
		"HTTP/1.0 204\r\nkeep-alive: timeout=5\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\nContent-Length: 1\n\nx",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var rh respHead
		if _, err := rh.read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("%q: accepted, net/http refuses it: %v", raw, err)
		}
		if resp.StatusCode != rh.code {
			t.Fatalf("%q: status %d, net/http %d", raw, rh.code, resp.StatusCode)
		}
		bodyful := rh.code >= 200 && rh.code != 204 && rh.code != 304
		chunked := len(resp.TransferEncoding) > 0
		if bodyful && (chunked != rh.chunked || (!chunked && resp.ContentLength != rh.contentLength)) {
			t.Fatalf("%q: framing chunked %v length %d, net/http %v %d", raw, rh.chunked, rh.contentLength, resp.TransferEncoding, resp.ContentLength)
		}
		untilEOF := !rh.chunked && rh.contentLength < 0 && rh.code >= 200 && rh.code != 204 && rh.code != 304
		if rh.code >= 200 && resp.Close != (rh.close || untilEOF) {
			t.Fatalf("%q: close %v, net/http %v", raw, rh.close, resp.Close)
		}
		_ = rh.statusLine()
	})
}
