package ingress

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// writeRequestHead writes what req.Write writes, up to the order of the
// header fields, or leaves the request to it.
func TestWriteRequestHeadAsRequestWrite(t *testing.T) {
	u, _ := url.Parse("http://10.0.0.1:8080/a/b%20c?q=1&r=%2F")
	for _, tc := range []struct {
		name   string
		method string
		host   string
		hdr    http.Header
		close  bool
		taken  bool
	}{
		{"get", "GET", "example.com", http.Header{"User-Agent": {""}, "X-A": {"1", " 2 "}, "Accept": {"*/*"}}, false, true},
		{"post without body", "POST", "example.com:8443", http.Header{"User-Agent": {"curl/8"}, "Content-Length": {"0"}}, false, true},
		{"url host", "DELETE", "", http.Header{"User-Agent": {""}, "Te": {"trailers"}}, false, true},
		{"no user agent key", "GET", "example.com", http.Header{}, false, false},
		{"close", "GET", "example.com", http.Header{"User-Agent": {""}}, true, false},
		{"unicode host", "GET", "bücher.example", http.Header{"User-Agent": {""}}, false, false},
		{"zone", "GET", "[fe80::1%25eth0]:80", http.Header{"User-Agent": {""}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &http.Request{Method: tc.method, URL: u, Host: tc.host, Header: tc.hdr, Close: tc.close, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
			var fast, std bytes.Buffer
			bw := bufio.NewWriter(&fast)
			taken := writeRequestHead(bw, req)
			_ = bw.Flush()
			if taken != tc.taken {
				t.Fatalf("taken = %v, want %v", taken, tc.taken)
			}
			if !taken {
				if fast.Len() != 0 {
					t.Errorf("wrote %q and left it to req.Write", fast.Bytes())
				}
				return
			}
			if err := req.Write(&std); err != nil {
				t.Fatal(err)
			}
			a, err := http.ReadRequest(bufio.NewReader(&fast))
			if err != nil {
				t.Fatalf("%v: %q", err, fast.Bytes())
			}
			b, err := http.ReadRequest(bufio.NewReader(&std))
			if err != nil {
				t.Fatal(err)
			}
			if a.Method != b.Method || a.RequestURI != b.RequestURI || a.Host != b.Host || a.ContentLength != b.ContentLength ||
				!reflect.DeepEqual(a.Header, b.Header) {
				t.Errorf("fast:\n%q\nreq.Write:\n%q", fast.Bytes(), std.Bytes())
			}
		})
	}
}

// A method or target that would split the request line toward the
// backend is refused before anything is written, on either path.
func TestRequestLineSendable(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		ok             bool
	}{
		{"GET", "/a/b%20c?q=1", true},
		{"PROPFIND", "/", true},
		{"GET /admin?", "/public", false},
		{"GET\t/admin", "/", false},
		{"", "/", false},
		{"GET", "/public?a /admin", false},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		req := &http.Request{Method: tc.method, URL: u}
		if got := requestLineSendable(req); got != tc.ok {
			t.Errorf("%q %q: sendable %v, want %v", tc.method, tc.target, got, tc.ok)
		}
		if !tc.ok {
			// Refused before the backend's connections are looked at.
			b := &backend{}
			if _, err := b.roundTrip(req, &reqState{}, false); err != errBadRequestLine {
				t.Errorf("%q %q: roundTrip err %v", tc.method, tc.target, err)
			}
		}
	}
}
