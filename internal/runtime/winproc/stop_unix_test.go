//go:build unix

package winproc

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startReady starts a task running script, which writes to the FIFO
// $READY once its break handler is in place, and waits for that.
func startReady(t *testing.T, r *Runtime, id, script string) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "ready")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := shSpec(id, script)
	spec.Container.Env = append(spec.Container.Env, "READY="+fifo)
	if _, err := r.Start(ctxT(t), spec); err != nil {
		t.Fatal(err)
	}
	// Opening blocks until the task opens its end; reading to the end
	// spares it a SIGPIPE.
	f, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadAll(f); err != nil {
		t.Fatal(err)
	}
}

func TestStopSendsTheBreakThenTerminates(t *testing.T) {
	for _, c := range []struct {
		name, script string
		grace        time.Duration
		fail         string
		calls, msg   string
	}{
		// A console program that handles the break exits in the grace
		// period with its own code.
		{"handled", `trap 'exit 7' TERM; echo > "$READY"; while :; do sleep 0.05; done`, time.Minute, "",
			"interrupt; terminate", "stopped: exited with code 7 after its console break"},
		// One that ignores it is terminated when the grace period ends.
		{"ignored", `trap '' TERM; echo > "$READY"; while :; do sleep 0.05; done`, 300 * time.Millisecond, "",
			"interrupt; terminate", "stopped: its job object terminated after the grace period (300ms)"},
		{"no grace", `trap '' TERM; echo > "$READY"; while :; do sleep 0.05; done`, 0, "",
			"terminate", "stopped: its job object terminated at once (no grace period)"},
		// An agent without a console cannot send it: terminated at once.
		{"no console", `trap '' TERM; echo > "$READY"; while :; do sleep 0.05; done`, time.Minute, "interrupt",
			"interrupt; terminate", "stopped: its job object terminated at once: console break to process group"},
	} {
		t.Run(c.name, func(t *testing.T) {
			jobs := &fakeJobs{fail: c.fail}
			r := newRuntime(t, jobs, t.TempDir())
			startReady(t, r, "t1", c.script)
			start := time.Now()
			if err := r.Stop(ctxT(t), "t1", c.grace); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			st, err := r.Wait(ctxT(t), "t1")
			if err != nil || !strings.HasPrefix(st.Message, c.msg) {
				t.Fatalf("Wait: %+v, %v; want %q", st, err, c.msg)
			}
			if c.name == "ignored" && took < c.grace {
				t.Errorf("terminated after %s, before the grace period", took)
			}
			if c.grace == time.Minute && took > 20*time.Second {
				t.Errorf("Stop took %s", took)
			}
			got := jobs.seen()
			got = got[strings.Index(got, "resume; ")+len("resume; "):]
			if !strings.HasPrefix(got, c.calls) {
				t.Errorf("calls after start %q, want %q first", got, c.calls)
			}
		})
	}
}
