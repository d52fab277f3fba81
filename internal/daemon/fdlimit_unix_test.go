//go:build !windows

package daemon

import (
	"io"
	"log/slog"
	"syscall"
	"testing"
)

// TestRaiseFileLimit: a soft RLIMIT_NOFILE under the hard one is raised
// to it.
func TestRaiseFileLimit(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	if orig.Max < 512 {
		t.Skipf("hard limit %d too low to lower the soft one under it", orig.Max)
	}
	defer func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) }()
	low := syscall.Rlimit{Cur: 256, Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	raiseFileLimit(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := openFileLimit(); got != orig.Max {
		t.Errorf("soft limit %d after raiseFileLimit, want the hard limit %d", got, orig.Max)
	}
}
