package ingress_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// TestZeroDropDuringTaskChurn runs steady concurrent GETs and POSTs while
// tasks come and go as in a rolling update: a new task is started and
// announced running, then an old one gets its desired-shutdown event and,
// a moment later, its server shuts down gracefully. No request may fail.
//
// "A moment later" is measured in traffic, not time: the server stops once
// every client worker has completed a request it sent after the removal.
// Workers send one request at a time, so by then no request that could
// have seen the old routing table is still on its way to the old task.
// (A fixed sleep is not enough on a loaded machine: a request that read
// the table just before the removal can be descheduled for longer than
// the sleep between choosing the task and writing to its connection, and
// a request written to a connection the server is closing as idle is
// lost; see the report on the agent's stop delay.)
func TestZeroDropDuringTaskChurn(t *testing.T) {
	var errLog testutil.SyncBuffer
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{ErrorLog: slog.New(slog.NewTextHandler(&errLog, nil))})
	svc := service("s1", "web", webLabels())
	slowEcho := func(name string) http.Handler {
		h := echoAs(name)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Requests take a little while, so some are always in flight
			// when a task leaves.
			time.Sleep(time.Millisecond)
			h(w, r)
		})
	}
	type live struct {
		id string
		b  *backend
		tk *api.Task
	}
	var tasks []live
	next := 0
	add := func() {
		next++
		id := fmt.Sprintf("t%d", next)
		b := startBackend(t, id, slowEcho(id))
		tk := task(id, "s1", b.addr())
		e.table.Apply(taskEvent(api.ActionCreate, tk))
		tasks = append(tasks, live{id, b, tk})
	}
	e.table.Apply(serviceEvent(api.ActionCreate, svc))
	add()
	add()

	const workers = 6
	var done atomic.Int64
	var epoch atomic.Int64         // counts removals
	var seen [workers]atomic.Int64 // epoch each worker's last request was sent in
	var failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := e.client()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var resp *http.Response
				var err error
				sentIn := epoch.Load()
				body := fmt.Sprintf("w%d-%d", w, i)
				if i%2 == 0 {
					resp, err = client.Get(e.url + "/get?" + body)
				} else {
					resp, err = client.Post(e.url+"/post", "text/plain", strings.NewReader(body))
				}
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						err = rerr
					case resp.StatusCode != http.StatusOK:
						err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
					case i%2 == 1 && !strings.Contains(string(b), `"Body":"`+body+`"`):
						err = fmt.Errorf("POST body lost: %s", b)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				seen[w].Store(sentIn)
				done.Add(1)
			}
		}()
	}

	// progress waits until n more requests completed: the churn is paced
	// by traffic, not by the clock.
	progress := func(n int64) {
		target := done.Load() + n
		waitFor(t, "requests to complete", func() bool { return done.Load() >= target })
	}
	for round := 0; round < 12; round++ {
		progress(30)
		add()
		progress(30)
		old := tasks[0]
		tasks = tasks[1:]
		e.table.Apply(taskEvent(api.ActionUpdate, with(old.tk, func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })))
		// The agent sends the stop signal a moment after the desired
		// state changes; the task's server then finishes what it has.
		now := epoch.Add(1)
		waitFor(t, "every worker to send a request after the removal", func() bool {
			for w := range seen {
				if seen[w].Load() < now {
					return false
				}
			}
			return true
		})
		old.b.stop()
		e.table.Apply(taskEvent(api.ActionUpdate, with(old.tk, func(t *api.Task) {
			t.DesiredState = api.TaskStateShutdown
			t.Status.State = api.TaskStateShutdown
		})))
	}
	progress(30)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during churn; first: %v\nproxy log:\n%s", n, done.Load(), firstErr.Load(), errLog.String())
	}
	t.Logf("%d requests, 0 failed, %d retries", done.Load(), e.proxy.Stats().Services["web/signup-web"].Retries)
}
