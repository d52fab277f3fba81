package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/server"
)

// silentLogs is the output of a task that prints nothing (yet).
type silentLogs struct{}

func (silentLogs) TaskLogs(ctx context.Context, _ *api.Task, _ api.LogOptions, _ io.Writer) error {
	<-ctx.Done()
	return ctx.Err()
}

// `service logs -f` of a task that prints nothing answers at once: its
// headers are sent before the first line. A follower forwarding the
// request to the leader waits a bounded time for them (its peer
// transport's response header timeout), and would fail the stream.
func TestLogsFollowOfASilentTaskAnswersAtOnce(t *testing.T) {
	cleanupServices(t)
	svc := createService(t, sleepSpec("silent", 1))
	waitTaskStarted(t, svc.ID)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	a := server.New(testDev.Manager(), testDev.NodeID(), nil)
	a.Logs = silentLogs{}
	srv := httptest.NewServer(a)
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 5 * time.Second}}
	defer c.CloseIdleConnections()
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, srv.URL+"/v1/services/silent/logs?follow=1", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("logs -f of a silent task: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logs -f: %s", resp.Status)
	}
}
