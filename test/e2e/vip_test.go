package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	mobyclient "github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil"
)

// vipLab is a service b (2 containers, VIP) and a client container cl
// on one network: cl reaches b as http://b:8080/ through b's VIP.
type vipLab struct {
	ctx    context.Context
	c      *client.Client
	dc     *mobyclient.Client
	b      *api.Service
	spec   api.ServiceSpec
	client string // the client container
}

func newVIPLab(t *testing.T, tweak func(*api.ServiceSpec)) *vipLab {
	t.Helper()
	testutil.RequireRoot(t)
	d, dc, _ := dockerCluster(t)
	l := &vipLab{c: clientOf(t, d), dc: dc, ctx: ctxTimeout(t, 2*time.Minute)}
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	if _, err := l.c.NetworkCreate(l.ctx, api.NetworkSpec{Name: "vipnet"}); err != nil {
		t.Fatal(err)
	}
	svc := func(name string, n uint64) api.ServiceSpec {
		s := imageService(name, image, n)
		s.Labels, s.EndpointSpec = nil, nil // VIP mode, no published port
		s.TaskTemplate.Networks = []api.NetworkAttachment{{Target: "vipnet"}}
		return s
	}
	l.spec = svc("b", 2)
	if tweak != nil {
		tweak(&l.spec)
	}
	l.b, _ = createRunning(t, l.ctx, l.c, l.spec)
	_, cl := createRunning(t, l.ctx, l.c, svc("cl", 1))
	l.client = running(cl)[0].Status.RuntimeID
	if got, code := execIn(t, dc, l.client, "/app", "get", "--wait", "10s", "http://b:8080/"); code != 0 {
		t.Fatalf("from cl, GET http://b:8080/ = %q (exit %d)", got, code)
	}
	return l
}

// loadResult is what `testapp load` printed.
type loadResult struct {
	ok, failed int
	errs       []string
	// reqs are, with --log, each request's start and the task that
	// answered it ("-" if it failed).
	reqs []loadReq
	end  time.Time // when the load command returned
	err  error
}

type loadReq struct {
	start time.Time
	task  string
}

// loadRun is a `testapp load --stdin` running in the client container.
type loadRun struct {
	started chan struct{} // closed on its "started" line
	att     mobyclient.ExecAttachResult
	res     chan loadResult
}

// load starts `testapp load --stdin ARGS http://b:8080/` in the client
// container and waits until it has its first answer.
func (l *vipLab) load(t *testing.T, args ...string) *loadRun {
	t.Helper()
	argv := append([]string{"/app", "load", "--stdin"}, args...)
	argv = append(argv, "http://b:8080/")
	ex, err := l.dc.ExecCreate(l.ctx, l.client, mobyclient.ExecCreateOptions{Cmd: argv, AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", argv, err)
	}
	att, err := l.dc.ExecAttach(l.ctx, ex.ID, mobyclient.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", argv, err)
	}
	t.Cleanup(att.Close)
	run := &loadRun{started: make(chan struct{}), att: att, res: make(chan loadResult, 1)}
	go func() {
		out := &lineWatch{on: "started\n", seen: run.started}
		_, err := stdcopy.StdCopy(out, out, att.Reader)
		r := loadResult{end: time.Now(), err: err}
		if err == nil {
			if info, err := l.dc.ExecInspect(context.Background(), ex.ID, mobyclient.ExecInspectOptions{}); err != nil || info.ExitCode != 0 {
				r.err = fmt.Errorf("%v: %+v %v: %s", argv, info, err, out.String())
			}
		}
		parseLoad(&r, out.String())
		run.res <- r
	}()
	select {
	case <-run.started:
	case r := <-run.res:
		t.Fatalf("the load ended before its first answer: %v %v", r.err, r.errs)
	case <-l.ctx.Done():
		t.Fatal("the load had no answer in time")
	}
	return run
}

// wait ends the load (its stdin) and returns what it printed.
func (r *loadRun) wait(t *testing.T) loadResult {
	t.Helper()
	if err := r.att.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	res := <-r.res
	if res.err != nil {
		t.Fatal(res.err)
	}
	return res
}

func parseLoad(r *loadResult, out string) {
	for _, line := range strings.Split(out, "\n") {
		var ok, failed int
		if n, _ := fmt.Sscanf(line, "ok=%d failed=%d", &ok, &failed); n == 2 {
			r.ok, r.failed = ok, failed
			continue
		}
		if e, found := strings.CutPrefix(line, "error: "); found {
			r.errs = append(r.errs, e)
			continue
		}
		at, task, _ := strings.Cut(line, " ")
		if ns, err := strconv.ParseInt(at, 10, 64); err == nil {
			r.reqs = append(r.reqs, loadReq{start: time.Unix(0, ns), task: task})
		}
	}
}

// lineWatch keeps what is written and closes seen once it holds on.
type lineWatch struct {
	bytes.Buffer
	on   string
	seen chan struct{}
	done bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if !w.done && strings.Contains(w.String(), w.on) {
		w.done = true
		close(w.seen)
	}
	return n, err
}

// Under load from another task through the service's VIP, two start-first
// updates of the service fail no request: each old task leaves every
// client's VIP map on the change that marks it to stop, and gets its stop
// signal only after the drain delay.
func TestVIPZeroDowntimeUpdate(t *testing.T) {
	l := newVIPLab(t, func(s *api.ServiceSpec) {
		s.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: api.UpdateOrderStartFirst, Monitor: api.Duration(300 * time.Millisecond), FailureAction: api.FailureActionPause}
	})
	run := l.load(t, "--for", "60s", "--workers", "8")
	for release := 2; release <= 3; release++ {
		l.spec.TaskTemplate.ContainerSpec.Env = []string{"RELEASE=" + strconv.Itoa(release)}
		updateService(t, l.ctx, l.c, l.b.ID, l.spec)
		waitService(t, l.ctx, l.c, "b", "the update to complete", updateCompleted(2))
	}
	updated := time.Now()
	r := run.wait(t)
	fmt.Printf("VIP-ZERO-DOWNTIME: requests=%d failed=%d\n", r.ok+r.failed, r.failed)
	if r.end.Sub(updated) > 30*time.Second {
		t.Fatalf("the load ended on its own before the update completed: it proves nothing")
	}
	if r.failed != 0 {
		t.Fatalf("%d of %d requests through b's VIP failed during the start-first update: %v", r.failed, r.ok+r.failed, r.errs)
	}
	if r.ok < 100 {
		t.Fatalf("only %d requests were answered: the load did not run", r.ok)
	}
}

// A task marked to stop gets no new connection through its service's VIP
// once the node has applied the change that marks it (within
// milliseconds of the API showing it), though it still runs and would
// answer (it ignores SIGTERM for its stop grace period).
func TestVIPDrainsATaskMarkedToStop(t *testing.T) {
	l := newVIPLab(t, func(s *api.ServiceSpec) {
		s.TaskTemplate.ContainerSpec.Args = []string{"--ignore-term"}
		s.TaskTemplate.ContainerSpec.StopGracePeriod = api.DurationPtr(8 * time.Second)
	})
	run := l.load(t, "--for", "60s", "--workers", "2", "--log")
	l.spec.Mode = replicated(1)
	updateService(t, l.ctx, l.c, l.b.ID, l.spec)
	stopping, staying := waitStopping(t, l.ctx, l.c, "b")
	// The test sees the mark after the cluster made it: every request
	// started from here must reach the staying task.
	marked := time.Now()
	// Long enough to see many new connections, within the stop grace.
	time.Sleep(2 * time.Second)
	r := run.wait(t)
	// The node's networking applies the mark as the API shows it, each
	// task's VIP map in turn: a connection a few milliseconds after the
	// test saw it may still reach the task (which serves it through its
	// drain delay). After applyLag none may.
	const applyLag = 100 * time.Millisecond
	var before, after, late, wrong int
	var lag time.Duration
	for _, q := range r.reqs {
		since := q.start.Sub(marked)
		switch {
		case since < 0:
			before++
		case q.task == staying.ID:
			after++
		case q.task != "-" && since < applyLag:
			late++
			lag = max(lag, since)
		default:
			if wrong++; wrong <= 5 {
				t.Errorf("a request %v after the mark reached %q (- failed); want the staying task %s (%s is marked to stop)", since, q.task, staying.ID, stopping.ID)
			}
		}
	}
	fmt.Printf("VIP-DRAIN: before-mark=%d after-mark=%d to-stopping-within-%v=%d (latest %v after the mark) wrong=%d\n", before, after, applyLag, late, lag, wrong)
	if before == 0 || after < 50 {
		t.Fatalf("%d requests before the mark, %d after: the load did not cover it", before, after)
	}
	ts := waitTasks(t, l.ctx, l.c, "b", "the tasks", func([]*api.Task) bool { return true })
	for _, tk := range ts {
		if tk.ID == stopping.ID && tk.Status.State != api.TaskStateRunning {
			t.Fatalf("the stopping task was %s when the load ended: the drain window was missed, the test proves nothing", tk.Status.State)
		}
	}
}
