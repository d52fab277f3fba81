package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `shoal dev --ui` prints a one-time login URL; a browser (here an HTTP
// client with a cookie jar) logs in with it once, and `shoal ui url`
// prints another.
func TestDevDashboardLoginURL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(shoalBin, "dev", "--data-dir", dir, "--log-level", "error", "--ingress", "off", "--publish-addr", "off",
		"--docker=false", "--docker-api", "off", "--ui", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "dashboard:" {
				found <- f[1]
			}
		}
	}()
	var login string
	select {
	case login = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("shoal dev --ui printed no dashboard URL")
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := login[:strings.Index(login, "/ui/")]
	if code, _ := get(base + "/ui/api/state"); code != http.StatusUnauthorized {
		t.Fatalf("state before login: %d, want 401", code)
	}
	if code, body := get(login); code != http.StatusOK || !strings.Contains(body, `name="csrf-token"`) {
		t.Fatalf("login: %d %s", code, body)
	}
	code, body := get(base + "/ui/api/state")
	var st struct{ Nodes []struct{ Status string } }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || len(st.Nodes) != 1 || st.Nodes[0].Status != "ready" {
		t.Fatalf("state after login: %d %s", code, body)
	}
	// The link worked once.
	other := &http.Client{Timeout: 10 * time.Second}
	resp, err := other.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the login URL a second time: %d, want 403", resp.StatusCode)
	}
	again, err := exec.Command(shoalBin, "-H", "unix://"+filepath.Join(dir, "shoal.sock"), "ui", "url").Output()
	if err != nil {
		t.Fatalf("shoal ui url: %v", err)
	}
	fresh := strings.TrimSpace(string(again))
	if !strings.HasPrefix(fresh, base+"/ui/login?token=") || fresh == login {
		t.Fatalf("shoal ui url printed %q", fresh)
	}
	jar2, _ := cookiejar.New(nil)
	resp, err = (&http.Client{Jar: jar2, Timeout: 10 * time.Second}).Get(fresh)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the URL shoal ui url printed: %d", resp.StatusCode)
	}
}
