//go:build linux

package cli

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/ingress"
)

// SIGHUP reaches the ingress's reload channel of a node with TLS option
// files, and is left alone on one without. The test process holds its
// own SIGHUP handler throughout, so the signal it sends itself can never
// take its default action (ending the process).
func TestReloadOnHangup(t *testing.T) {
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)
	if ch := reloadOnHangup(context.Background(), ingress.TLSFiles{}); ch != nil {
		t.Error("a node without TLS option files handles SIGHUP")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := reloadOnHangup(ctx, ingress.TLSFiles{Options: "tls.yml"})
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not ask for a reload")
	}
}

// forwardKicks passes each value on, merges those that come while one
// is pending, and returns when its context ends.
func TestForwardKicks(t *testing.T) {
	in, out := make(chan int), make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		forwardKicks(ctx, in, out)
	}()
	in <- 1
	in <- 2 // pending with the first: one kick
	in <- 3 // taken: the loop is done with 2
	<-out
	select {
	case <-out:
		t.Error("two kicks while one was pending")
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("forwardKicks did not return when its context ended")
	}
}

// The TLS flags name the files the daemon reads again.
func TestIngressTLSFlagsNameTheFilesToReload(t *testing.T) {
	dir := t.TempDir()
	opts := filepath.Join(dir, "tls.yml")
	if err := os.WriteFile(opts, []byte("tls:\n  options:\n    modern:\n      minVersion: VersionTLS13\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var f ingressFlags
	cmd := &cobra.Command{}
	f.add(cmd)
	if err := cmd.Flags().Parse([]string{"--ingress-tls", "127.0.0.1:0", "--ingress-tls-options", opts}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSFiles != (ingress.TLSFiles{Options: opts}) || cfg.TLSOptions.Lookup("modern") == nil {
		t.Errorf("TLSFiles %+v, options %v", cfg.TLSFiles, cfg.TLSOptions.Names())
	}
}
