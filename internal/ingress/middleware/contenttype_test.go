package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestContentType(t *testing.T) {
	tests := []struct {
		name, set, body, want string
		code                  int
	}{
		{"sniffed html", "", "<html><body>x</body></html>", "text/html; charset=utf-8", 200},
		{"sniffed with status", "", "%PDF-1.4 ...", "application/pdf", 404},
		{"backend's kept", "application/json", "<html>", "application/json", 200},
	}
	m, err := New("contenttype", opts("=true"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.set != "" {
				w.Header().Set("Content-Type", tt.set)
			}
			w.WriteHeader(tt.code)
			_, _ = io.WriteString(w, tt.body)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req("GET", "/"))
		if rec.Header().Get("Content-Type") != tt.want || rec.Code != tt.code || rec.Body.String() != tt.body {
			t.Errorf("%s: %d %q %q", tt.name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	wantErr(t, "contenttype", opts("autoDetect=true"), "autoDetect", "unknown option")
}

// A response without a body keeps its status: contenttype holds the head
// until the first byte, and there is none (a 204, a redirect, a 404 with
// Content-Length: 0).
func TestContentTypeKeepsStatusWithoutBody(t *testing.T) {
	m, err := New("contenttype", opts("=true"))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{http.StatusNoContent, http.StatusFound, http.StatusNotFound} {
		h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "/x")
			w.WriteHeader(code)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req("GET", "/"))
		if rec.Code != code || rec.Header().Get("Content-Type") != "" {
			t.Errorf("backend answered %d without a body: client got %d, Content-Type %q", code, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
