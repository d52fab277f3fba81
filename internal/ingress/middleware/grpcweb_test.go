package middleware

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// What grpcweb hands the next step, and what it lets through untouched
// (the end-to-end conversion, with an h2c backend, is in the ingress's
// TestGRPCWebToH2CBackend).
func TestGRPCWebRequests(t *testing.T) {
	m, err := New("grpcweb", opts("allowOrigins=https://a.example,https://b.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		req      *http.Request
		ct, body string // what the next step sees ("" ct: not called)
		status   int
		allow    string // Access-Control-Allow-Origin answered
	}{
		{"binary", body(req(http.MethodPost, "/s/M", "Content-Type: application/grpc-web+proto", "Origin: https://b.example"), "\x00\x00\x00\x00\x01x"),
			"application/grpc+proto", "\x00\x00\x00\x00\x01x", 200, "https://b.example"},
		{"text", body(req(http.MethodPost, "/s/M", "Content-Type: application/grpc-web-text"), base64.StdEncoding.EncodeToString([]byte("\x00\x00\x00\x00\x01y"))),
			"application/grpc", "\x00\x00\x00\x00\x01y", 200, ""},
		{"origin not allowed", body(req(http.MethodPost, "/s/M", "Content-Type: application/grpc-web", "Origin: https://evil.example"), ""),
			"application/grpc", "", 200, ""},
		{"not gRPC-Web", body(req(http.MethodPost, "/s/M", "Content-Type: application/json"), "{}"),
			"application/json", "{}", 200, ""},
		{"GET passes", req(http.MethodGet, "/s/M", "Content-Type: application/grpc-web"),
			"application/grpc-web", "", 200, ""},
		{"preflight allowed", req(http.MethodOptions, "/s/M", "Origin: https://a.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: x-grpc-web, content-type"),
			"", "", 204, "https://a.example"},
		{"preflight refused", req(http.MethodOptions, "/s/M", "Origin: https://evil.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: x-grpc-web"),
			"", "", 204, ""},
		{"other preflight passes", req(http.MethodOptions, "/s/M", "Origin: https://a.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"),
			"", "", 200, ""},
	} {
		var gotCT, gotBody, te string
		called := false
		h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			gotCT, te = r.Header.Get("Content-Type"), r.Header.Get("Te")
			b, _ := io.ReadAll(r.Body)
			gotBody = string(b)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, c.req)
		if rec.Code != c.status || rec.Header().Get("Access-Control-Allow-Origin") != c.allow {
			t.Errorf("%s: %d %v, want %d and origin %q", c.name, rec.Code, rec.Header(), c.status, c.allow)
		}
		if c.ct == "" {
			if called && c.status == 204 {
				t.Errorf("%s: a preflight reached the backend", c.name)
			}
			continue
		}
		if !called || gotCT != c.ct || gotBody != c.body {
			t.Errorf("%s: next got %v %q %q, want %q %q", c.name, called, gotCT, gotBody, c.ct, c.body)
		}
		if grpc := strings.HasPrefix(c.ct, "application/grpc") && !strings.HasPrefix(c.ct, "application/grpc-web"); grpc != (te == "trailers") {
			t.Errorf("%s: TE %q", c.name, te)
		}
	}
}

func body(r *http.Request, s string) *http.Request {
	r.Body = io.NopCloser(strings.NewReader(s))
	r.ContentLength = int64(len(s))
	return r
}

// A trailer with the name of a header the head had (gRPC metadata sent
// both as header and as trailer) still comes in the trailer frame: the
// proxy adds its values after the head's (net/http/httputil's
// copyHeader), and only those are the trailer's.
func TestGRPCWebTrailerNamedAsAHeader(t *testing.T) {
	m, err := New("grpcweb", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("X-Id", "head")
		w.Header().Set("Trailer", "Grpc-Status, X-Id")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "\x00\x00\x00\x00\x01x")
		w.Header().Add("X-Id", "tail")
		w.Header().Add("Grpc-Status", "0")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, body(req(http.MethodPost, "/s/M", "Content-Type: application/grpc-web"), ""))
	if got := rec.Header().Values("X-Id"); len(got) != 1 || got[0] != "head" {
		t.Errorf("head X-Id %q, want head", got)
	}
	want := "\x00\x00\x00\x00\x01x" + "\x80\x00\x00\x00\x1cgrpc-status: 0\r\nx-id: tail\r\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
