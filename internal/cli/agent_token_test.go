//go:build linux

package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
)

// refusingManager is a manager's agent port that refuses every join
// token, recording the ones it was shown. tokenFor makes a token that
// names its CA, with the secret secret.
func refusingManager(t *testing.T) (addr string, seen func() []string, tokenFor func(secret string) string) {
	t.Helper()
	root, err := ca.NewRootCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ca.IssueSelf(root, "manager0000000000000000001", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var tokens []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Token, CSR string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		tokens = append(tokens, req.Token)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"join token rejected"}`))
	}))
	srv.TLS = ca.ServerConfig(mgr, false)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://"), func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), tokens...)
		}, func(secret string) string {
			return ca.Token{Digest: root.Digest(), Secret: secret}.String()
		}
}

// shoal agent --token-file reads the token from the file (trimmed), so
// that it never shows in ps.
func TestAgentTokenFile(t *testing.T) {
	addr, seen, tokenFor := refusingManager(t)
	fromFile, fromEnv := tokenFor(strings.Repeat("f", 25)), tokenFor(strings.Repeat("e", 25))
	t.Setenv("SHOAL_JOIN_TOKEN", fromEnv)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  "+fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := shoalRaw(t, "agent", "--manager", addr, "--token-file", file, "--data-dir", t.TempDir(),
		"--ingress", "off", "--docker=false", "--addr", "127.0.0.1")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "join token rejected") {
		t.Fatalf("agent refused by the manager: %s", r)
	}
	got := seen()
	if len(got) == 0 {
		t.Fatal("the agent never reached the manager")
	}
	for _, h := range got {
		if h != fromFile {
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

// A token file that another user owns (they chose the token, or read it)
// is refused, like one open to others; a FIFO with no writer is refused
// at once, not waited on forever.
func TestAgentTokenFileOwnerAndKind(t *testing.T) {
	t.Setenv("SHOAL_JOIN_TOKEN", "")
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, file, want string }{
		{"fifo without a writer", fifo, "--token-file " + fifo + " is not a regular file"},
	}
	if os.Geteuid() == 0 {
		theirs := filepath.Join(dir, "theirs")
		if err := os.WriteFile(theirs, []byte("SHOALTKN-1-x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link")
		if err := os.Symlink(theirs, link); err != nil {
			t.Fatal(err)
		}
		want := "is owned by uid 65534, not by this user (uid 0) or root: that user may have chosen or read the join token"
		cases = append(cases, struct{ name, file, want string }{"another user's", theirs, want},
			struct{ name, file, want string }{"link to another user's", link, want})
	} else {
		t.Log("not root: another user's file is not tried")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan result, 1)
			go func() {
				done <- shoalRaw(t, "agent", "--manager", "127.0.0.1:1", "--data-dir", dir, "--ingress", "off", "--docker=false", "--token-file", tc.file)
			}()
			select {
			case r := <-done:
				if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("want exit %d saying %q: %s", ExitUsage, tc.want, r)
				}
			case <-time.After(10 * time.Second):
				// Let the agent go, then fail.
				if f, err := os.OpenFile(tc.file, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				<-done
				t.Fatalf("shoal agent --token-file %s still waits after 10s", tc.file)
			}
		})
	}
}
