package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/testutil"
)

// A follower of a log file that is rotated (copied, then truncated) reads
// on from the file's start: the lines written after the rotation show.
func TestFollowFileAcrossTruncation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stdout.log")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("before rotation, a long line\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var out testutil.SyncBuffer
	errc := make(chan error, 1)
	go func() { errc <- followFile(ctx, done, p, 0, &out) }()
	waitOut := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("followed %q, want %q", out.String(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitOut("before rotation")
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	f.WriteString("after\n")
	waitOut("after\n")
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	cancel()
}

// Rotated files are read oldest first, numerically (10 before 9).
func TestRotatedLogsOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "stdout.log")
	for _, n := range []string{"1", "2", "10", "x"} {
		os.WriteFile(p+"."+n, nil, 0o600)
	}
	got := rotatedLogs(p)
	want := []string{p + ".10", p + ".2", p + ".1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rotated %v, want %v", got, want)
	}
}
