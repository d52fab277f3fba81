package agentlink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/shoalproject/shoal/api"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/testutil"
)

// A manager reads a task's output from the agent of its node, over the
// agent's own connection: once, or following until the reader stops.
func TestTaskLogsOverTheLink(t *testing.T) {
	e := newEnv(t)
	c := e.client(nodeA)
	c.SetLogs(func(ctx context.Context, taskID string, docker bool, opts api.LogOptions, w io.Writer) error {
		fmt.Fprintf(w, "first line of %s docker=%v\n", taskID, docker)
		for i := 0; opts.Follow; i++ {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
				return err
			}
		}
		return nil
	})
	e.register(c, nodeA)

	var out bytes.Buffer
	if err := e.srv.TaskLogs(testCtx(t), nodeA, "task1", true, api.LogOptions{Follow: false, Tail: -1}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "first line of task1 docker=true\n" {
		t.Fatalf("logs %q", out.String())
	}

	ctx, cancel := context.WithCancel(testCtx(t))
	var followed testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- e.srv.TaskLogs(ctx, nodeA, "task2", false, api.LogOptions{Follow: true, Tail: -1}, &followed)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(followed.String(), "line 2\n") {
		if time.Now().After(deadline) {
			t.Fatalf("followed logs %q, want new lines", followed.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("following did not end with its reader")
	}

	// A node whose agent is not connected: a clear error at once.
	if err := e.srv.TaskLogs(testCtx(t), nodeB, "task3", false, api.LogOptions{Follow: false, Tail: -1}, io.Discard); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("logs of a node without an agent: %v", err)
	}
}

// Only the node a log request was made of may see it or answer it, and
// only once: another worker's certificate can neither poll that node's
// requests nor answer them with output of its own.
func TestLogRequestsAnsweredOnlyByTheirNode(t *testing.T) {
	e := newEnv(t)
	sessA := e.sessionIDFrom(nodeA, "127.0.0.1")
	sessB := e.sessionIDFrom(nodeB, "127.0.0.1")
	var out testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- e.srv.TaskLogs(testCtx(t), nodeA, "taskA", false, api.LogOptions{Follow: false, Tail: -1}, &out)
	}()

	if code, _ := e.rawAs(nodeB, "GET", "/agent/v1/sessions/"+sessA+"/logs", ""); code != 403 {
		t.Fatalf("node B polling node A's log requests: %d, want 403", code)
	}
	code, body := e.rawAs(nodeA, "GET", "/agent/v1/sessions/"+sessA+"/logs", "")
	var reqs []struct{ ID, TaskID string }
	if code != 200 || json.Unmarshal([]byte(body), &reqs) != nil || len(reqs) != 1 || reqs[0].TaskID != "taskA" {
		t.Fatalf("node A's log requests: %d %s", code, body)
	}
	id := reqs[0].ID
	for _, sess := range []string{sessB, sessA} {
		if code, _ := e.rawAs(nodeB, "POST", "/agent/v1/sessions/"+sess+"/logs/"+id, "forged by B\n"); code != 403 {
			t.Fatalf("node B answering node A's log request on session %s: %d, want 403", sess, code)
		}
	}
	if code, body := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+sessA+"/logs/"+id, "real output\n"); code != 204 {
		t.Fatalf("node A answering: %d %s", code, body)
	}
	if err := <-done; err != nil || out.String() != "real output\n" {
		t.Fatalf("logs %q %v, want node A's output only", out.String(), err)
	}
	if code, _ := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+sessA+"/logs/"+id, "again\n"); code != 403 {
		t.Fatalf("answering a request twice: %d, want 403", code)
	}
}
