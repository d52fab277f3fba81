package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// A config's file is read no further than the size limit: a pipe (or a
// device such as /dev/zero), which has no size to check first, that gives
// more than the limit is refused as too large, not read to its end.
func TestConfigFileReadStopsAtTheLimit(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "big.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stack.yml"), []byte("services:\n  a:\n    image: x\nconfigs:\n  c:\n    file: big.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The writer gives more than the limit and then holds the pipe open
	// until the test ends: a reader that wants its end waits for it.
	release := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		_, _ = w.Write(make([]byte, api.MaxConfigSize+4096))
		<-release
	}()
	t.Cleanup(func() {
		close(release)
		// Unblock a writer still waiting for a reader.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
		<-wrote
	})
	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		_, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "stack.yml")}, Project: "st"})
		done <- result{err}
	}()
	select {
	case r := <-done:
		if r.err == nil || !strings.Contains(r.err.Error(), "big.conf is more than 1024000 bytes: too large") {
			t.Fatalf("Load: %v, want the file refused as too large", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load still reads the pipe past the config size limit")
	}
}
