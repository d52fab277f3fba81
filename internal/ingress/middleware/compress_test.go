package middleware

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCompress(t *testing.T) {
	big := strings.Repeat("<p>hello compress</p>", 100) // 2,100 bytes
	tests := []struct {
		name     string
		opts     []Option
		accept   string
		ctype    string // the backend's Content-Type ("" none)
		encoding string // the backend's Content-Encoding
		body     string
		wantGzip bool
	}{
		{"gzip", opts("=true"), "gzip, deflate, br", "text/html", "", big, true},
		{"no options", nil, "gzip", "text/html", "", big, true},
		{"small", opts(), "gzip", "text/html", "", "short", false},
		{"not accepted", opts(), "", "text/html", "", big, false},
		{"q zero", opts(), "gzip;q=0, br", "text/html", "", big, false},
		{"star", opts(), "*", "text/html", "", big, true},
		{"already encoded", opts(), "gzip", "text/html", "br", big, false},
		{"event stream", opts(), "gzip", "text/event-stream", "", big, false},
		{"grpc", opts(), "gzip", "application/grpc", "", big, false},
		{"excluded", opts("excludedContentTypes=text/html"), "gzip", "text/html; charset=utf-8", "", big, false},
		{"included", opts("includedContentTypes=application/json"), "gzip", "text/html", "", big, false},
		{"included match", opts("includedContentTypes=application/json"), "gzip", "application/json", "", big, true},
		{"min", opts("minResponseBodyBytes=4"), "gzip", "text/plain", "", "hello", true},
		{"sniffed", opts(), "gzip", "", "", big, true},
		{"default encoding", opts("defaultEncoding=gzip"), "", "text/html", "", big, true},
		{"encodings", opts("encodings=zstd,br,gzip"), "gzip", "text/html", "", big, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New("compress", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				if tt.encoding != "" {
					w.Header().Set("Content-Encoding", tt.encoding)
				}
				// Written in two parts: the decision waits for enough.
				_, _ = io.WriteString(w, tt.body[:len(tt.body)/2])
				_, _ = io.WriteString(w, tt.body[len(tt.body)/2:])
			}))
			r := req("GET", "/")
			if tt.accept != "" {
				r.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			got := rec.Body.String()
			if gz := rec.Header().Get("Content-Encoding") == "gzip"; gz != tt.wantGzip {
				t.Fatalf("gzip %v, want %v (headers %v)", gz, tt.wantGzip, rec.Header())
			}
			if tt.wantGzip {
				zr, err := gzip.NewReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
				if rec.Header().Get("Vary") != "Accept-Encoding" || rec.Header().Get("Content-Length") != "" {
					t.Errorf("headers %v", rec.Header())
				}
				if tt.ctype == "" && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
					t.Errorf("Content-Type %q, want the sniffed text/html", rec.Header().Get("Content-Type"))
				}
			}
			if got != tt.body {
				t.Errorf("body %d bytes, want %d", len(got), len(tt.body))
			}
		})
	}
	wantErr(t, "compress", opts("encodings=br,zstd"), "gzip only")
	wantErr(t, "compress", opts("defaultEncoding=br"), "gzip only")
	wantErr(t, "compress", opts("=false"), "takes true")
	wantErr(t, "compress", opts("excludedContentTypes=text/html", "includedContentTypes=text/plain"), "mutually exclusive")
}

// A response flushed before the threshold goes out as it is: streams are
// not held back.
func TestCompressFlush(t *testing.T) {
	m, _ := New("compress", nil)
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "event")
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, strings.Repeat("x", 2000))
	}))
	r := req("GET", "/", "Accept-Encoding: gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !rec.Flushed || rec.Header().Get("Content-Encoding") != "" || rec.Body.Len() != 2005 {
		t.Errorf("flushed %v, encoding %q, %d bytes", rec.Flushed, rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
}
