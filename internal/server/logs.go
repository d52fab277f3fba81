package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// LogSource reads the output of tasks on this node.
type LogSource interface {
	TaskLogs(ctx context.Context, task *api.Task, opts api.LogOptions, w io.Writer) error
}

// logQuery is what a logs request asks for, as docker's service logs
// flags: the runtime's options, and how to prefix each line.
type logQuery struct {
	opts api.LogOptions
	// ids is "short" (web.1.TASKID12CHAR@HOST, the default), "full" or
	// "none" (web.1@HOST); raw drops the prefix.
	ids       string
	raw       bool
	noResolve bool
}

func parseLogQuery(q url.Values) (logQuery, error) {
	yes := func(k string) bool { return q.Get(k) == "1" || q.Get(k) == "true" }
	lq := logQuery{opts: api.LogOptions{Follow: yes("follow"), Timestamps: yes("timestamps"), Details: yes("details"), Tail: -1}, ids: "short", raw: yes("raw"), noResolve: yes("noresolve")}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return lq, fmt.Errorf("invalid tail %q: want a number of lines or all", t)
		}
		lq.opts.Tail = n
	}
	if v := q.Get("since"); v != "" {
		sec, frac, _ := strings.Cut(v, ".")
		s, err := strconv.ParseInt(sec, 10, 64)
		var ns int64
		if err == nil && frac != "" {
			ns, err = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		}
		if err != nil {
			return lq, fmt.Errorf("invalid since %q: want Unix seconds", v)
		}
		lq.opts.Since = time.Unix(s, ns)
	}
	switch v := q.Get("ids"); v {
	case "", "short":
	case "full", "none":
		lq.ids = v
	default:
		return lq, fmt.Errorf("invalid ids %q: want short, full or none", v)
	}
	return lq, nil
}

// prefix is what starts each line of task t on host.
func (lq logQuery) prefix(t *api.Task, host string) string {
	if lq.raw {
		return ""
	}
	name := t.Name()
	if lq.noResolve {
		// docker's --no-resolve: the service's and node's IDs.
		name, host = strings.Replace(name, t.ServiceName+".", t.ServiceID+".", 1), t.NodeID
	}
	switch lq.ids {
	case "short":
		name += "." + api.ShortID(t.ID)
	case "full":
		name += "." + t.ID
	}
	return fmt.Sprintf("%-30s| ", name+"@"+host)
}

// serviceLogs streams the output of a service's tasks, or of one task
// (the ref is a task ID or ID prefix), as text, each line prefixed like
// docker service logs: "web.1.TASKID@HOST    | line" (with timestamps,
// the time comes first, as docker's). The tasks may run on any node:
// Logs reads them there.
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) {
	if s.Logs == nil {
		writeError(w, http.StatusNotImplemented, "this manager cannot read task logs")
		return
	}
	lq, err := parseLogQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
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
	follow := lq.opts.Follow
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
	// The headers go now, not with the first line: a task may print
	// nothing for long, and a follower forwarding this stream waits a
	// bounded time for them.
	if !sw.flush() {
		return
	}
	var mu sync.Mutex
	out := func(prefix, line string) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		err := sw.deadline()
		if err == nil && lq.opts.Timestamps {
			// The runtime's "TIME line": the time goes before the prefix.
			ts, rest, _ := strings.Cut(line, " ")
			_, err = fmt.Fprintf(w, "%s %s%s\n", ts, prefix, rest)
		} else if err == nil {
			_, err = fmt.Fprintf(w, "%s%s\n", prefix, line)
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
		prefix := lq.prefix(t, host)
		read := func(t *api.Task) {
			pr, pw := io.Pipe()
			opts := lq.opts
			opts.Follow = follow && t.Live()
			go func() {
				pw.CloseWithError(s.Logs.TaskLogs(ctx, t, opts, pw))
			}()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				out(prefix, sc.Text())
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				msg := "error reading logs: " + err.Error()
				if lq.opts.Timestamps {
					msg = time.Now().UTC().Format(time.RFC3339Nano) + " " + msg
				}
				out(prefix, msg)
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
