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
	lines := startDevUI(t, dir, "--ingress", "off")
	login := lines["dashboard:"]
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

// startDevUI starts `shoal dev --ui` in dir with the extra flags until the
// test ends, and returns the first field of its output's lines by their
// label ("dashboard:", "ingress:"), once it printed them all.
func startDevUI(t *testing.T, dir string, extra ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(shoalBin, append([]string{"dev", "--data-dir", dir, "--log-level", "error", "--publish-addr", "off",
		"--docker=false", "--docker-api", "off", "--ui", "127.0.0.1:0"}, extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	found := make(chan map[string]string, 1)
	go func() {
		lines := map[string]string{}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 {
				lines[f[0]] = f[1]
				if f[0] == "try:" { // the last line
					found <- lines
				}
			}
		}
	}()
	select {
	case lines := <-found:
		if lines["dashboard:"] == "" {
			t.Fatal("shoal dev --ui printed no dashboard URL")
		}
		return lines
	case <-time.After(60 * time.Second):
		t.Fatal("shoal dev --ui did not start")
		return nil
	}
}

// A router sent to api@internal: `service create` accepts it, `shoal
// ingress routes` lists it, and the ingress of `shoal dev --ui` serves
// the dashboard on its host, behind the dashboard's login.
func TestIngressAPIInternalServesTheDashboard(t *testing.T) {
	dir := t.TempDir()
	lines := startDevUI(t, dir, "--ingress", "127.0.0.1:0")
	ingress := lines["ingress:"]
	if ingress == "" {
		t.Fatalf("shoal dev printed no ingress address: %v", lines)
	}
	host := "unix://" + filepath.Join(dir, "shoal.sock")
	if out, err := exec.Command(shoalBin, "-H", host, "service", "create", "--detach", "--name", "traefik", "--replicas", "0",
		"--label", "traefik.http.routers.dash.rule=Host(`dash.example`)", "--label", "traefik.http.routers.dash.service=api@internal",
		"--", "sleep", "300").CombinedOutput(); err != nil {
		t.Fatalf("service create: %v\n%s", err, out)
	}
	out, err := exec.Command(shoalBin, "-H", host, "ingress", "routes").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "serving: api@internal, this node's dashboard") {
		t.Fatalf("ingress routes: %v\n%s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ingress+path, nil)
		req.Host = "dash.example"
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/ui/api/state"); code != http.StatusUnauthorized {
		t.Fatalf("state before login: %d %s, want 401", code, body)
	}
	login, err := exec.Command(shoalBin, "-H", host, "ui", "url").Output()
	if err != nil {
		t.Fatalf("shoal ui url: %v", err)
	}
	// The login URL names the --ui listener; its path and token, on the
	// routed host. The redirect to /ui/ keeps the Host (same URL host).
	u := strings.TrimSpace(string(login))
	if code, body := get(u[strings.Index(u, "/ui/"):]); code != http.StatusOK || !strings.Contains(body, `name="csrf-token"`) {
		t.Fatalf("login through the ingress: %d %s", code, body)
	}
	if code, body := get("/ui/api/state"); code != http.StatusOK || !strings.Contains(body, `"traefik"`) {
		t.Fatalf("state after login: %d %.300s", code, body)
	}
}
