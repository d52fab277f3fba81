package dockerapi

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// maxLogLine bounds one line of task output relayed.
const maxLogLine = 1 << 20

// serviceLogs relays shoal's merged service logs in Docker's form: each
// line framed as stdout in the multiplexed stream (tasks have no TTY),
// led by its details (node, service and task IDs), which the docker CLI
// turns into its "name.slot.id@node | " prefix; tail, since and
// timestamps (the times the runtime recorded) are shoal's.
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := client.LogsOptions{IDs: "full", NoResolve: true}
	opts.Follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.Timestamps, _ = strconv.ParseBool(q.Get("timestamps"))
	if v := q.Get("tail"); v != "" && v != "all" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			s.fail(w, badf("tail: want a number of lines or \"all\", got %q", v))
			return
		}
		opts.Tail = v
	}
	if v := q.Get("since"); v != "" && v != "0" {
		since, err := parseEventTime(v)
		if err != nil {
			s.fail(w, badf("since: want Unix seconds, got %q", v))
			return
		}
		opts.Since = since
	}
	stdout := q.Get("stdout")
	if stdout == "" {
		stdout = "1"
	}
	if ok, _ := strconv.ParseBool(stdout); !ok {
		// shoal keeps a task's output as one stream.
		w.WriteHeader(http.StatusOK)
		return
	}
	svc, err := s.c.ServiceInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	tasks, err := s.c.TaskList(r.Context(), client.TaskFilter{Service: svc.ID})
	if err != nil {
		s.fail(w, err)
		return
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.c.ServiceLogsWith(r.Context(), svc.ID, opts, pw))
	}()
	defer pr.Close()
	w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), maxLogLine)
	for sc.Scan() {
		text := sc.Text()
		var stamp string
		if opts.Timestamps {
			// shoal puts the line's time first, as docker does.
			stamp, text, _ = strings.Cut(text, " ")
		}
		prefix, msg, ok := strings.Cut(text, "| ")
		if !ok {
			continue
		}
		t := taskOfPrefix(tasks, prefix)
		if t == nil {
			continue
		}
		line := detailsOf(t) + " " + msg + "\n"
		if stamp != "" {
			line = stamp + " " + line
		}
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := writeFrame(w, 1, line); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// taskOfPrefix finds the task a shoal log prefix
// ("name.slot.TASKID@host   ") names by its task ID (whole or short).
func taskOfPrefix(tasks []*api.Task, prefix string) *api.Task {
	name, _, _ := strings.Cut(strings.TrimSpace(prefix), "@")
	id := name[strings.LastIndexByte(name, '.')+1:]
	if id == "" {
		return nil
	}
	for _, t := range tasks {
		if strings.HasPrefix(t.ID, id) {
			return t
		}
	}
	return nil
}

// detailsOf is the details part of a Docker service log line.
func detailsOf(t *api.Task) string {
	return "com.docker.swarm.node.id=" + url.QueryEscape(t.NodeID) +
		",com.docker.swarm.service.id=" + url.QueryEscape(t.ServiceID) +
		",com.docker.swarm.task.id=" + url.QueryEscape(t.ID)
}

// writeFrame writes one frame of Docker's multiplexed stream.
func writeFrame(w io.Writer, stream byte, payload string) error {
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := io.WriteString(w, payload)
	return err
}
