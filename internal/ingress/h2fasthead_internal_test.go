package ingress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// appendFastHead writes what outboundHeader, rewriteHeaders and
// writeRequestHead write together (the same lines, in any order), and
// declines whatever headersSendable or writeRequestHead would refuse.
func TestAppendFastHeadAsTheMap(t *testing.T) {
	p := NewProxy(NewTable(TableOptions{}), Options{})
	names := []string{"Accept", "User-Agent", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Forwarded-Port", "X-Forwarded-Server", "X-Real-Ip", "X-Forwarded-Uri", "Te", "Trailer", "Cookie",
		"Content-Length", "Forwarded", "Proxy-Authorization", "Keep-Alive", "X-Custom", "Bad Name", "Authorization"}
	values := []string{"", "a", " padded ", "trailers", "1.2.3.4", "x\x01y", "tab\tin", "0", "a=1; b=2"}
	hosts := []string{"example.com", "example.com:8443", "", "[::1]:443", "ex ample.com", "bücher.de"}
	methods := []string{"GET", "HEAD", "POST", "DELETE", "PATCH"}
	rng := rand.New(rand.NewPCG(1, 2))
	direct := 0
	for _, hostname := range []string{"", "ingress-1"} {
		p.hostname = hostname
		for i := range 3000 {
			in := &http.Request{Method: methods[rng.IntN(len(methods))], Header: http.Header{},
				Host: hosts[rng.IntN(len(hosts))], RemoteAddr: "10.1.2.3:4567", ProtoMajor: 2}
			if rng.IntN(4) > 0 {
				in.TLS = &tls.ConnectionState{}
			}
			in.URL, _ = url.ParseRequestURI([]string{"/", "/a/b?q=1", "/x%20y", "/c?\x7f"}[rng.IntN(4)])
			if in.URL == nil {
				in.URL = &url.URL{Path: "/"}
			}
			for range rng.IntN(6) {
				k := names[rng.IntN(len(names))]
				in.Header[k] = append(in.Header[k], values[rng.IntN(len(values))])
			}
			out := *in
			u := *in.URL
			u.Scheme, u.Host = "http", "10.0.0.9:80"
			out.URL = &u
			if rng.IntN(3) == 0 {
				out.Host = ""
			}
			got, ok := p.appendFastHead(nil, in, &out)

			st := &reqState{}
			out.Header = outboundHeader(in)
			p.rewriteHeaders(in, out.Header, st)
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			sendable := validFieldValue(out.Host) && headersSendable(out.Header)
			written := sendable && writeRequestHead(bw, &out)
			_ = bw.Flush()
			if !ok {
				continue // left to the map: always allowed
			}
			if !written {
				t.Fatalf("case %d: appendFastHead wrote what the map path refuses (sendable %v)\n%+v\n%q", i, sendable, in, got)
			}
			if a, b := headLines(string(got)), headLines(buf.String()); !slices.Equal(a, b) {
				t.Fatalf("case %d: %+v\nappendFastHead %q\nthe map path   %q", i, in, a, b)
			}
			direct++
		}
	}
	if direct < 1000 {
		t.Errorf("appendFastHead wrote %d of 6000 heads: the cases do not exercise it", direct)
	}
}

// headLines is a head's request line, then its fields sorted.
func headLines(h string) []string {
	lines := strings.Split(strings.TrimSuffix(h, "\r\n\r\n"), "\r\n")
	slices.Sort(lines[1:])
	return lines
}
