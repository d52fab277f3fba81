package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// refusingManager is a manager's agent port that refuses every join
// token, recording the ones it was shown.
func refusingManager(t *testing.T) (addr string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"invalid join token"}`))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), tokens...)
	}
}

// shoal agent --token-file reads the token from the file (trimmed), so
// that it never shows in ps.
func TestAgentTokenFile(t *testing.T) {
	t.Setenv("SHOAL_JOIN_TOKEN", "SHOALTKN-1-from-env")
	addr, seen := refusingManager(t)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  SHOALTKN-1-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := shoalRaw(t, "agent", "--manager", addr, "--token-file", file, "--data-dir", t.TempDir(),
		"--ingress", "off", "--docker=false", "--addr", "127.0.0.1")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "invalid join token") {
		t.Fatalf("agent refused by the manager: %s", r)
	}
	got := seen()
	if len(got) == 0 {
		t.Fatal("the agent never reached the manager")
	}
	for _, h := range got {
		if h != "Bearer SHOALTKN-1-from-file" {
			t.Errorf("the manager was shown %q, want the file's token", h)
		}
	}
}

// The token file must be readable and private, and only one way of
// giving the token is allowed: otherwise shoal agent stops at once, as a
// usage error.
func TestAgentTokenFileErrors(t *testing.T) {
	t.Setenv("SHOAL_JOIN_TOKEN", "")
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("SHOALTKN-1-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("SHOALTKN-1-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--token-file", missing}, "read --token-file: open " + missing + ": no such file or directory"},
		{"readable by others", []string{"--token-file", open}, "--token-file " + open + " has mode 0644: other users may read the join token; chmod 600 " + open},
		{"empty file", []string{"--token-file", empty}, "--token-file " + empty + " is empty"},
		{"both", []string{"--token", "SHOALTKN-1-x", "--token-file", good}, "--token and --token-file cannot be used together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"agent", "--manager", "127.0.0.1:1", "--data-dir", dir, "--ingress", "off", "--docker=false"}, tc.args...)
			r := shoalRaw(t, args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit %d saying %q: %s", ExitUsage, tc.want, r)
			}
		})
	}
}

// The help says that --token shows in ps, and what to use instead.
func TestAgentHelpWarnsAboutTokenInPs(t *testing.T) {
	r := shoalRaw(t, "agent", "--help")
	for _, want := range []string{"--token-file", "SHOAL_JOIN_TOKEN", "ps"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("agent --help does not mention %q: %s", want, r)
		}
	}
}
