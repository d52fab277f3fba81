package e2e

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// flood holds n idle connections to addr, dialling again (after a pause)
// whenever the server closes one, until stop.
func flood(addr string, n int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err == nil {
					go func() { <-done; c.Close() }()
					var b [1]byte
					_, _ = c.Read(b[:]) // until the server closes it
					c.Close()
				}
				select {
				case <-done:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

// limitedDev runs shoal dev with args under a limit of 256 open files
// (soft and hard), and returns its ingress address and an API client.
func limitedDev(t *testing.T, args ...string) (*nodeProc, string, *client.Client) {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{"-c", `ulimit -n 256 && exec "$0" "$@"`, shoalBin, "dev", "--data-dir", dir,
		"--log-level", "error", "--ingress", "127.0.0.1:0", "--docker=false"}, args...)
	p, lines := startNodeCmd(t, "shoal dev", dir, "try:", exec.Command("sh", args...))
	ingress := strings.TrimPrefix(strings.Fields(field(t, lines, "ingress"))[0], "http://")
	c, err := client.New(field(t, lines, "API"))
	if err != nil {
		p.signal(syscall.SIGTERM)
		t.Fatal(err)
	}
	return p, ingress, c
}

// answers fails the test unless the API answers within 3s.
func answers(t *testing.T, c *client.Client, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.ServiceList(ctx); err != nil {
		t.Fatalf("%s: the API did not answer within 3s: %v", what, err)
	}
}

// TestIngressConnFloodLeavesAPIAndTasksWorking: 400 idle connections to
// the ingress of a shoal dev that may open 256 files (soft and hard
// limit) leave the API answering at once, and a new process task starts,
// writes its log and has it read back, with no failed attempt.
func TestIngressConnFloodLeavesAPIAndTasksWorking(t *testing.T) {
	p, ingress, c := limitedDev(t)
	defer p.signal(syscall.SIGTERM)
	defer removeAll(t, c)

	stop := flood(ingress, 400)
	defer stop()
	// Let the flood take what it can.
	time.Sleep(time.Second)
	answers(t, c, "during the flood")
	ctx := ctxTimeout(t, 30*time.Second)
	spec := processSpec("talk", 1, "sh", "-c", "echo started; exec sleep 300")
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatalf("service create during the flood: %v", err)
	}
	ts := waitTasks(t, ctx, c, "talk", "1 running", nRunning(1))
	for _, tk := range ts {
		if tk.Status.State == api.TaskStateFailed || tk.Status.State == api.TaskStateRejected {
			t.Errorf("task %s %s during the flood: %s", tk.ID, tk.Status.State, tk.Status.Err)
		}
	}
	var out bytes.Buffer
	for !strings.Contains(out.String(), "started") {
		out.Reset()
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.ServiceLogs(lctx, "talk", false, &out)
		cancel()
		if err != nil {
			t.Fatalf("service logs during the flood: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("the task's log never showed its output; logs: %q", out.String())
		}
		time.Sleep(50 * time.Millisecond) // the task has not written it yet
	}
	answers(t, c, "after the task started")
}

// TestAPIComesBackAfterDescriptorsRunOut: with an ingress limit above
// what the open-file limit allows, a flood takes every descriptor; the
// API's accept loop waits and retries, so it answers again once the
// flood ends, and shoal dev is still running.
func TestAPIComesBackAfterDescriptorsRunOut(t *testing.T) {
	p, ingress, c := limitedDev(t, "--ingress-max-conns", "1000")
	defer p.signal(syscall.SIGTERM)
	stop := flood(ingress, 400)
	time.Sleep(time.Second)
	// A call now waits in the socket's backlog: accept fails.
	pending := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.ServiceList(ctx)
		pending <- err
	}()
	time.Sleep(500 * time.Millisecond)
	stop()
	select {
	case err := <-pending:
		if err != nil {
			t.Fatalf("a call made during the flood: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call made during the flood was not answered within 5s of its end")
	}
	answers(t, c, "after the flood")
	select {
	case <-p.exited:
		t.Fatal("shoal dev exited")
	default:
	}
}
