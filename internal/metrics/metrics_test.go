package metrics

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScrapeLabels(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		port   uint32
		path   string
		ok     bool
	}{
		{map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9100"}, 9100, "/metrics", true},
		{map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "80", "prometheus.io/path": "/m"}, 80, "/m", true},
		{map[string]string{"prometheus-scrape": "true", "prometheus-port": "8080", "prometheus-path": "/x"}, 8080, "/x", true},
		{map[string]string{"prometheus.io/scrape": "false", "prometheus.io/port": "80"}, 0, "", false},
		{map[string]string{"prometheus.io/scrape": "true"}, 0, "", false},
		{map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "70000"}, 0, "", false},
		{map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "80", "prometheus.io/path": "m"}, 80, "/metrics", true},
	} {
		port, path, ok := scrapeOf(tc.labels)
		if port != tc.port || path != tc.path || ok != tc.ok {
			t.Errorf("%v: %d %q %v, want %d %q %v", tc.labels, port, path, ok, tc.port, tc.path, tc.ok)
		}
	}
}

func TestReadTokenRefusesOpenFiles(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("0123456789abcdef0123"), 0o644)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600)
	for path, want := range map[string]string{open: "owner only", short: "at least 16", filepath.Join(dir, "none"): "no such file"} {
		if _, err := ReadToken(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	if tok, err := ReadToken(good); err != nil || string(tok) != "0123456789abcdef0123" {
		t.Errorf("good token: %q %v", tok, err)
	}
}

func TestAuthorized(t *testing.T) {
	h := Authorized([]byte("secret-token-0123"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for auth, code := range map[string]int{"": 401, "Bearer secret-token-0123": 200, "Bearer secret-token-012": 401, "bearer secret-token-0123": 401} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != code {
			t.Errorf("Authorization %q: %d, want %d", auth, rec.Code, code)
		}
	}
}
