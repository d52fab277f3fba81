package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// LogSource reads the output of tasks on this node.
type LogSource interface {
	TaskLogs(ctx context.Context, task *api.Task, follow bool, w io.Writer) error
}

// serviceLogs streams the output of a service's tasks (or of one task,
// when the reference names no service but a task, as docker's
// `service logs SERVICE|TASK`) as text, each line prefixed like docker
// service logs: "web.1.TASKID@HOST    | line". The tasks may run on any
// node: Logs reads them there. ?follow=1 keeps streaming.
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) {
	if s.Logs == nil {
		writeError(w, http.StatusNotImplemented, "this manager cannot read task logs")
		return
	}
	tx := s.m.Store().Read()
	ref := r.PathValue("ref")
	var candidates []*api.Task
	svc, err := tx.FindService(ref)
	if errors.Is(err, state.ErrNotFound) {
		t, terr := tx.FindTask(ref)
		if errors.Is(terr, state.ErrNotFound) {
			terr = fmt.Errorf("service or task %s: %w", ref, state.ErrNotFound)
		}
		if terr != nil {
			s.fail(w, terr)
			return
		}
		candidates, err = []*api.Task{t}, nil
	} else if err == nil {
		candidates = tx.TasksByService(svc.ID)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	follow := r.URL.Query().Get("follow") == "1" || r.URL.Query().Get("follow") == "true"
	var tasks []*api.Task
	for _, t := range candidates {
		// Only tasks that started have output.
		if t.NodeID != "" && t.Status.RuntimeID != "" {
			tasks = append(tasks, t)
		}
	}
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].Slot != tasks[j].Slot {
			return tasks[i].Slot < tasks[j].Slot
		}
		return tasks[i].CreatedAt.Before(tasks[j].CreatedAt)
	})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	// A client that stops reading ends the stream after the write
	// timeout, and the readers of every task's logs with it.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sw := s.newStreamWriter(w, r, "logs")
	var mu sync.Mutex
	out := func(prefix, line string) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		err := sw.deadline()
		if err == nil {
			_, err = fmt.Fprintf(w, "%s| %s\n", prefix, line)
		}
		if !sw.ok(err) || !sw.flush() {
			cancel()
		}
	}
	var wg sync.WaitGroup
	for _, t := range tasks {
		host := t.NodeID
		if n := tx.Node(t.NodeID); n != nil {
			host = n.Description.Hostname
		}
		prefix := fmt.Sprintf("%-30s", t.FullName()+"@"+host)
		read := func(t *api.Task) {
			pr, pw := io.Pipe()
			go func() {
				pw.CloseWithError(s.Logs.TaskLogs(ctx, t, follow && t.Live(), pw))
			}()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				out(prefix, sc.Text())
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				out(prefix, "error reading logs: "+err.Error())
			}
			pr.Close()
		}
		if follow {
			wg.Add(1)
			go func(t *api.Task) { defer wg.Done(); read(t) }(t)
		} else {
			read(t)
		}
	}
	wg.Wait()
}
