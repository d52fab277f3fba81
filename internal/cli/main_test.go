package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
)

// The tests of this package share one dev cluster: starting Raft and an
// agent per test would make the package slow. Tests run one at a time and
// each removes the services it creates, and waits for their tasks to be
// gone, before it ends.
var (
	testDev  *daemon.Dev
	testHost string
)

// waitTimeout bounds every wait for the cluster to reach a state. It is
// generous on purpose: the race detector on a small machine is slow.
const waitTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// Tests pass --host or set SHOAL_HOST themselves; a SHOAL_HOST from the
	// environment must not leak into the tests that expect the default.
	os.Unsetenv("SHOAL_HOST")
	// Nor the user's contexts and certificates (endpoint.go).
	for _, v := range []string{"SHOAL_CONTEXT", "SHOAL_TLS_VERIFY", "SHOAL_CERT_PATH"} {
		os.Unsetenv(v)
	}
	cfgDir, err := os.MkdirTemp("", "shoal-cli-config")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(cfgDir)
	os.Setenv("SHOAL_CONFIG", cfgDir)
	dir, err := os.MkdirTemp("", "shoal-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	startCtx, cancelStart := context.WithTimeout(context.Background(), waitTimeout)
	defer cancelStart()
	d, err := daemon.StartDev(startCtx, daemon.DevConfig{
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start dev cluster:", err)
		return 1
	}
	testDev, testHost = d, d.Host()
	code := m.Run()
	// Whatever a failed test left behind is removed, and its processes
	// stopped, before the cluster goes: a closed dev cluster leaves its
	// tasks running.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := removeAllServices(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
		code = 1
	}
	if err := d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close dev cluster:", err)
		code = 1
	}
	// Every command's connections end with the cluster's API server.
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
		code = 1
	}
	return code
}

// testClient returns a client of the shared cluster.
func testClient(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(testHost)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// result is what one CLI run gave.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// shoal runs the CLI against the shared cluster.
func shoal(t testing.TB, args ...string) result {
	t.Helper()
	return shoalRaw(t, append([]string{"--host=" + testHost}, args...)...)
}

// shoalRaw runs the CLI with exactly args.
func shoalRaw(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustShoal runs the CLI and fails the test unless it exits 0.
func mustShoal(t testing.TB, args ...string) result {
	t.Helper()
	r := shoal(t, args...)
	if r.code != 0 {
		t.Fatalf("shoal %s: %s", strings.Join(args, " "), r)
	}
	return r
}

var errDone = errors.New("condition met")

// waitUntil re-checks cond on the start of the event stream and on every
// event after it, until cond holds; it fails the test if that takes longer
// than waitTimeout.
func waitUntil(t testing.TB, what string, cond func(ctx context.Context, c *client.Client) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := waitCond(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func waitCond(ctx context.Context, cond func(ctx context.Context, c *client.Client) (bool, error)) error {
	c, err := client.New(testHost)
	if err != nil {
		return err
	}
	err = c.Events(ctx, client.EventFilter{}, func(api.Event) error {
		ok, err := cond(ctx, c)
		if err != nil {
			return err
		}
		if ok {
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}

// serviceTasks returns the tasks of service ref.
func serviceTasks(ctx context.Context, c *client.Client, ref string) ([]*api.Task, error) {
	return c.TaskList(ctx, client.TaskFilter{Service: ref})
}

// runningSlots returns the running task of each slot of service ref.
func runningSlots(ctx context.Context, c *client.Client, ref string) (map[uint64]*api.Task, error) {
	tasks, err := serviceTasks(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	out := map[uint64]*api.Task{}
	for _, t := range tasks {
		if t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
			out[t.Slot] = t
		}
	}
	return out, nil
}

// waitRunning waits until service ref has a running task in each of its
// slots 1..n.
func waitRunning(t testing.TB, ref string, n int) map[uint64]*api.Task {
	t.Helper()
	var slots map[uint64]*api.Task
	waitUntil(t, fmt.Sprintf("%d running tasks of %s", n, ref), func(ctx context.Context, c *client.Client) (bool, error) {
		s, err := runningSlots(ctx, c, ref)
		if err != nil {
			return false, err
		}
		for i := 1; i <= n; i++ {
			if s[uint64(i)] == nil {
				return false, nil
			}
		}
		slots = s
		return true, nil
	})
	return slots
}

// removeAllServices removes every service and waits until every task is
// gone, so that no process outlives the test that started it.
func removeAllServices(ctx context.Context) error {
	c, err := client.New(testHost)
	if err != nil {
		return err
	}
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if err := c.ServiceRemove(ctx, s.ID); err != nil && !client.IsNotFound(err) {
			return err
		}
	}
	return waitCond(ctx, func(ctx context.Context, c *client.Client) (bool, error) {
		tasks, err := c.TaskList(ctx, client.TaskFilter{})
		return len(tasks) == 0, err
	})
}

// cleanupServices removes every service when the test ends and waits until
// their tasks are gone.
func cleanupServices(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := removeAllServices(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// table is a parsed docker-style table: a header line, then rows whose
// cells start at the columns of their headers.
type table struct {
	headers []string
	rows    []map[string]string
	// raw holds the untrimmed-left cell text of each row, by header.
	raw []map[string]string
}

var multiSpace = regexp.MustCompile(`\s{2,}`)

// parseTable parses out, checking that its header line has exactly the
// headers given.
func parseTable(t testing.TB, out string, headers ...string) table {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in output %q", out)
	}
	got := multiSpace.Split(strings.TrimSpace(lines[0]), -1)
	if strings.Join(got, "|") != strings.Join(headers, "|") {
		t.Fatalf("headers = %q, want %q (output:\n%s)", got, headers, out)
	}
	starts := make([]int, len(headers))
	from := 0
	for i, h := range headers {
		j := strings.Index(lines[0][from:], h)
		if j < 0 {
			t.Fatalf("header %q not found in %q", h, lines[0])
		}
		starts[i] = from + j
		from = starts[i] + len(h)
	}
	tb := table{headers: headers}
	for _, line := range lines[1:] {
		r := []rune(line)
		row, raw := map[string]string{}, map[string]string{}
		for i, h := range headers {
			end := len(r)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(r))
			}
			cell := ""
			if starts[i] < len(r) {
				cell = string(r[starts[i]:end])
			}
			raw[h] = strings.TrimRight(cell, " ")
			row[h] = strings.TrimSpace(cell)
		}
		tb.rows = append(tb.rows, row)
		tb.raw = append(tb.raw, raw)
	}
	return tb
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// expectExit fails the test unless r exited with code; for a non-zero
// code it also checks that stderr says errPart, and reports true: the
// case is over.
func expectExit(t testing.TB, r result, code int, errPart string) (failed bool) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d: %s", r.code, code, r)
	}
	if code == 0 {
		return false
	}
	if !strings.Contains(r.stderr, errPart) {
		t.Errorf("stderr lacks %q: %s", errPart, r)
	}
	return true
}
