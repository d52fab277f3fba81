package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A task's output is capped: a stream past the cap is copied to .1 (the
// older ones shifted, the oldest dropped) and truncated, and the task,
// which holds the file open, writes on at its start, leaving no hole.
func TestLogRotationCapsFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	r, err := Open(Options{Root: root, NodeAddr: "127.0.0.1", LogMaxSize: 1000, LogFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r) })
	marks := t.TempDir()
	// Each round writes 2000 bytes (a round number, then x's), then waits
	// for the test to rotate and let it go on.
	s := shSpec(`i=0; while [ $i -lt 4 ]; do
		printf 'round%d ' $i; head -c 1993 /dev/zero | tr '\0' x; printf ' end%d\n' $i
		while [ ! -f ` + marks + `/go$i ]; do sleep 0.02; done
		i=$((i+1))
	done; echo done`)
	start(t, r, s)
	stdout, _, err := r.LogPaths(s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		waitForOutput(t, r, s.TaskID, "end"+string(rune('0'+i))+"\n")
		if err := r.RotateLogs(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(stdout); err != nil || fi.Size() != 0 {
			t.Fatalf("round %d: stdout after rotation %v %v, want empty", i, fi.Size(), err)
		}
		if err := os.WriteFile(filepath.Join(marks, "go"+string(rune('0'+i))), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, r, s.TaskID)
	got, _ := os.ReadFile(stdout)
	if string(got) != "done\n" {
		t.Errorf("stdout after the last rotation %q, want the task's later output only, from the start", got)
	}
	one, _ := os.ReadFile(stdout + ".1")
	two, _ := os.ReadFile(stdout + ".2")
	if !strings.HasPrefix(string(one), "round3 ") || !strings.HasPrefix(string(two), "round2 ") || len(one) != 2006 {
		t.Errorf("rotated files: .1 %.10q (%d bytes), .2 %.10q, want rounds 3 and 2", one, len(one), two)
	}
	if _, err := os.Stat(stdout + ".3"); !os.IsNotExist(err) {
		t.Errorf("stdout.log.3 exists (%v): 3 files are kept, the current one included", err)
	}
	// Under the cap: nothing moves.
	if err := r.RotateLogs(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(stdout); string(got) != "done\n" {
		t.Errorf("a file under the cap was rotated: %q", got)
	}
}
