package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/server"
)

func TestEventsUnknownType(t *testing.T) {
	msg := callError(t, http.MethodGet, "/v1/events?type=service,bogus", "", http.StatusBadRequest)
	if want := `unknown event type "bogus": want service, task, node, config, secret, network`; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}

// smallBuffers keeps the kernel from absorbing a stream a client does not
// read: the server's writes block after a few KB.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// slowEventsClient serves api on a server whose connections have small
// buffers, opens /v1/events with a small receive buffer, reads the sync
// line, and returns the rest of the stream, unread, and a channel closed
// when the events handler has returned.
func slowEventsClient(t *testing.T, api *server.Server) (*bufio.Reader, <-chan struct{}) {
	t.Helper()
	body, done := slowClient(t, api, "/v1/events")
	if line, err := body.ReadString('\n'); err != nil || !strings.Contains(line, `"Type":"sync"`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	return body, done
}

// slowClient serves api on a server whose connections have small buffers,
// sends GET path with a small receive buffer, and returns the response's
// body, unread, and a channel closed when the handler has returned.
func slowClient(t *testing.T, api *server.Server, path string) (*bufio.Reader, <-chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(w, r)
		close(done)
	}))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: shoal\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", path, resp, err)
	}
	return bufio.NewReaderSize(resp.Body, 1024), done
}

// flood writes a few thousand events: a service whose 1,000 tasks stay
// pending, each created and then given its reason.
func flood(t *testing.T, name string) {
	t.Helper()
	spec := sleepSpec(name, 1000)
	spec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.labels.flood==nowhere"}}
	createService(t, spec)
}

// logSignal is a log destination that closes seen when a line holding
// want is logged.
type logSignal struct {
	want string
	seen chan struct{}
	once sync.Once
}

func (l *logSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), l.want) {
		l.once.Do(func() { close(l.seen) })
	}
	return len(p), nil
}

// logsTo returns a logger writing to l.
func logsTo(l *logSignal) *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// A client of /v1/events that stops reading holds neither memory nor a
// goroutine for long: its queue is bounded, and the stream ends.
func TestEventsSlowReader(t *testing.T) {
	cleanupServices(t)

	t.Run("stops reading for good", func(t *testing.T) {
		a := server.New(testDev.Manager(), testDev.NodeID(), nil)
		a.EventQueue, a.StreamWriteTimeout = 100, time.Second
		_, done := slowEventsClient(t, a)
		flood(t, "flood1")
		// The connection stays open, unread: the server ends the stream.
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatal("the events handler still runs for a client that stopped reading")
		}
	})

	t.Run("falls behind then reads", func(t *testing.T) {
		behind := &logSignal{want: "the client fell behind", seen: make(chan struct{})}
		a := server.New(testDev.Manager(), testDev.NodeID(), logsTo(behind))
		a.EventQueue, a.StreamWriteTimeout = 100, waitTimeout
		body, done := slowEventsClient(t, a)
		flood(t, "flood2")
		// The subscription is dropped as soon as it overflows, while its
		// reader is still stuck.
		select {
		case <-behind.seen:
		case <-time.After(waitTimeout):
			t.Fatal("the subscription of a client that stopped reading never overflowed")
		}
		var last api.Event
		lines := 0
		for {
			line, err := body.ReadBytes('\n')
			if err != nil {
				break
			}
			lines++
			if err := json.Unmarshal(line, &last); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
		}
		if last.Type != api.EventStreamError || !strings.Contains(last.Message, "fell more than 100 events behind") {
			t.Fatalf("last of %d lines: %+v, want an error event saying the client fell behind", lines, last)
		}
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatal("the events handler did not return")
		}
	})
}

// endlessLogs is a task's output that never ends: it writes until its
// reader's context ends, and records that it did.
type endlessLogs struct{ stopped chan struct{} }

func (l endlessLogs) TaskLogs(ctx context.Context, _ *api.Task, _ api.LogOptions, w io.Writer) error {
	defer close(l.stopped)
	line := strings.Repeat("x", 1000) + "\n"
	for ctx.Err() == nil {
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// A client of `service logs -f` that stops reading is cut off after the
// write timeout, and the task's log reader stops with it.
func TestLogsSlowReader(t *testing.T) {
	cleanupServices(t)
	svc := createService(t, sleepSpec("chatty", 1))
	waitTaskStarted(t, svc.ID)
	logs := endlessLogs{stopped: make(chan struct{})}
	a := server.New(testDev.Manager(), testDev.NodeID(), nil)
	a.Logs, a.StreamWriteTimeout = logs, time.Second
	_, done := slowClient(t, a, "/v1/services/chatty/logs?follow=1")
	for what, ch := range map[string]<-chan struct{}{"the logs handler": done, "the task's log reader": logs.stopped} {
		select {
		case <-ch:
		case <-time.After(waitTimeout):
			t.Fatalf("%s still runs for a client that stopped reading", what)
		}
	}
}

// waitTaskStarted waits until a task of the service svcID started.
func waitTaskStarted(t *testing.T, svcID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	store := testDev.Manager().Store()
	_, sub := store.Subscribe()
	defer sub.Close()
	for started := false; !started; {
		for _, tk := range store.Read().TasksByService(svcID) {
			started = started || tk.Status.RuntimeID != ""
		}
		if !started {
			if _, err := sub.Next(ctx); err != nil {
				t.Fatalf("waiting for the task to start: %v", err)
			}
		}
	}
}
