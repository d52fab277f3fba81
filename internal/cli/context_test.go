package cli

import (
	"strings"
	"testing"
)

// `shoal context` in docker's words: create, ls (table, --format, -q),
// use, show, inspect, rm (the current one only with -f), and a context
// that points at the test cluster's socket used by --context.
func TestContextCommands(t *testing.T) {
	t.Setenv("SHOAL_CONFIG", t.TempDir())
	t.Setenv("SHOAL_CONTEXT", "")
	r := mustShoal(t, "context", "create", "here", "--host", testHost, "--description", "the test cluster")
	if strings.TrimSpace(r.stdout) != "here" || !strings.Contains(r.stderr, `Successfully created context "here"`) {
		t.Fatalf("create: %s", r)
	}
	ls := mustShoal(t, "context", "ls")
	lines := strings.Split(strings.TrimSpace(ls.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "SHOAL ENDPOINT") ||
		!strings.HasPrefix(lines[1], "default *") || !strings.Contains(lines[2], testHost) {
		t.Fatalf("ls:\n%s", ls.stdout)
	}
	if q := mustShoal(t, "context", "ls", "-q"); q.stdout != "default\nhere\n" {
		t.Fatalf("ls -q: %q", q.stdout)
	}
	mustShoal(t, "context", "use", "here")
	if f := mustShoal(t, "context", "ls", "--format", "{{.Name}} {{.Current}} {{.ShoalEndpoint}}"); f.stdout != "default false "+defaultHost()+"\nhere true "+testHost+"\n" {
		t.Fatalf("ls --format: %q", f.stdout)
	}
	if s := mustShoal(t, "context", "show"); s.stdout != "here\n" {
		t.Fatalf("show: %q", s.stdout)
	}
	if s := mustShoal(t, "--context", "default", "context", "show"); s.stdout != "default\n" {
		t.Fatalf("show --context: %q", s.stdout)
	}
	// The current context is where the CLI talks without -H.
	if r := shoalRaw(t, "node", "ls", "-q"); r.code != 0 || !strings.Contains(r.stdout, testDev.NodeID()) {
		t.Fatalf("info through the context: %s", r)
	}
	if i := mustShoal(t, "context", "inspect", "--format", "{{.Host}} {{.TLS}}"); i.stdout != testHost+" false\n" {
		t.Fatalf("inspect: %q", i.stdout)
	}
	if r := shoalRaw(t, "context", "rm", "here"); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("rm current without -f: %s", r)
	}
	mustShoal(t, "context", "rm", "-f", "here")
	if s := mustShoal(t, "context", "show"); s.stdout != "default\n" {
		t.Fatalf("show after rm: %q", s.stdout)
	}
	for _, bad := range [][]string{
		{"context", "create", "x"},
		{"context", "create", "a/b", "--host", testHost},
		{"context", "use", "nope"},
		{"--context", "nope", "service", "ls"},
	} {
		if r := shoalRaw(t, bad...); r.code == 0 {
			t.Errorf("%v: %s", bad, r)
		}
	}
}

// A tcp:// host without a certificate, or with --tlsverify=false, is a
// clear error, never plain HTTP.
func TestTCPNeedsTLS(t *testing.T) {
	t.Setenv("SHOAL_CONFIG", t.TempDir())
	t.Setenv("SHOAL_TLS_VERIFY", "")
	t.Setenv("SHOAL_CERT_PATH", "")
	r := shoalRaw(t, "-H", "tcp://127.0.0.1:1", "service", "ls")
	if r.code != 1 || !strings.Contains(r.stderr, "SHOAL_CERT_PATH") || !strings.Contains(r.stderr, "--tlsverify") {
		t.Fatalf("no certificate: %s", r)
	}
	r = shoalRaw(t, "-H", "tcp://127.0.0.1:1", "--tlsverify=false", "service", "ls")
	if r.code != 1 || !strings.Contains(r.stderr, "never plain HTTP") {
		t.Fatalf("--tlsverify=false: %s", r)
	}
	dir := t.TempDir()
	r = shoalRaw(t, "-H", "tcp://127.0.0.1:1", "--tlsverify", "--tlscacert", dir+"/none.pem", "service", "ls")
	if r.code != 1 || !strings.Contains(r.stderr, "--tlscacert") {
		t.Fatalf("missing CA file: %s", r)
	}
}
