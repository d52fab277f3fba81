package agentlink_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
)

// A worker that stops reading its routes stream (a stopped process, a
// stuck reader: its kernel still acknowledges, so the connection looks
// alive) must not hold the manager's stream open forever, with its
// subscription queueing every change of the cluster in memory: the
// manager gives up on a line it cannot write in time and frees both. The
// worker then connects again and gets a new snapshot.
func TestRoutesStreamDropsAStalledReader(t *testing.T) {
	p, _, closed := stalledRoutesReader(t, agentlink.ServerConfig{StreamWriteTimeout: 200 * time.Millisecond})
	fillUntil(t, p, closed, "the manager still holds the stream of a reader that stopped reading")
}

// A reader slower than the changes, whose writes still finish within the
// write timeout, leaves no more than a bounded queue of changes behind
// it: past it the server drops the stream's queue at once, not after
// the write timeout, queues nothing more for it, and the stream ends once
// its pending write does; the worker then starts again from a snapshot.
func TestRoutesStreamQueueIsBounded(t *testing.T) {
	p, srv, _ := stalledRoutesReader(t, agentlink.ServerConfig{StreamWriteTimeout: time.Hour, StreamQueue: 20})
	dropped := make(chan struct{})
	go func() {
		defer close(dropped)
		for srv.RoutesStreamsBehind() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}()
	fillUntil(t, p, dropped, "the routes stream queued more than its limit of changes for a reader that fell behind")
}

// stalledRoutesReader starts a link server with cfg (its store,
// dispatcher and token filled in) and a routes reader with a small
// receive window that reads the head and the snapshot, then nothing. It
// returns the store's proposer, the server and a channel that receives
// when a connection to the server closes.
func stalledRoutesReader(t *testing.T, cfg agentlink.ServerConfig) (*state.LocalProposer, *agentlink.Server, <-chan struct{}) {
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	d := &dispatcher.Dispatcher{Store: s, Proposer: p, Logger: quiet, HeartbeatPeriod: time.Minute}
	t.Cleanup(d.Start(context.Background()))
	root, issuer, mgr := newCA(t)
	cfg.Dispatcher, cfg.Store, cfg.Issuer, cfg.Logger = d, s, issuer, quiet
	srv := agentlink.NewServer(cfg)
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = ca.ServerConfig(mgr, false)
	closed := make(chan struct{}, 16)
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	hs.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		hs.CloseClientConnections()
		hs.Close()
	})

	// A reader with a small receive window that reads the head and the
	// first line, then nothing.
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	raw, err := dialer.DialContext(testCtx(t), "tcp", strings.TrimPrefix(hs.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, ca.ClientConfig(issueIdentity(t, root, nodeA)))
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /agent/v1/routes HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "{") || strings.Contains(line, `"Reset"`) {
			break // the snapshot
		}
	}

	return p, srv, closed
}

// fillUntil writes tasks of 64 KiB each until done closes or receives,
// failing with msg if the test's time runs out first.
func fillUntil(t *testing.T, p *state.LocalProposer, done <-chan struct{}, msg string) {
	// Changes keep coming while the reader sleeps: far more than the
	// socket buffers hold.
	big := strings.Repeat("x", 64<<10)
	ctx := testCtx(t)
	for i := 0; ; i++ {
		tk := &api.Task{ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: uint64(i + 1), DesiredState: api.TaskStateRunning,
			Status: api.TaskStatus{State: api.TaskStatePending}, ServiceLabels: map[string]string{"filler": big}}
		if _, err := p.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpCreateTask, Task: tk}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			return // the manager gave up on the stream
		case <-ctx.Done():
			t.Fatal(msg)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
