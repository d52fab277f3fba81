package agentlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoalproject/shoal/api"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/shoalproject/shoal/internal/httpjson"
)

// Task logs travel on the agent's own connections: the agent long-polls
// its session for the managers' log requests, and answers each by
// streaming the task's output as the body of a POST. No listener on the
// worker; the node that answers is its certificate's, and only for a
// request the manager made of that node.
const (
	suffixLogs = "/logs"
	// maxLogQueue bounds the log requests waiting for one node's agent.
	maxLogQueue = 16
	// logAnswerWait is how long a manager waits for the agent to start
	// answering a log request.
	logAnswerWait = 10 * time.Second
	// logPollWait is how long a log-request poll waits before it answers
	// that there is none.
	logPollWait = 30 * time.Second
	// maxAgentLogStreams bounds the log streams an agent sends at once.
	maxAgentLogStreams = 32
)

// logRequest asks an agent for a task's output.
type logRequest struct {
	ID     string `json:"ID"`
	TaskID string `json:"TaskID"`
	// Docker: the task runs on the docker runtime (else a process).
	Docker bool `json:"Docker,omitempty"`
	// Options are the reader's (follow, tail, since, timestamps).
	Options api.LogOptions `json:"Options"`
}

// logCall is a log request waiting for, then receiving, its answer.
type logCall struct {
	node    string
	req     logRequest
	ctx     context.Context
	w       io.Writer
	claimed bool          // under Server.mu: an answer arrived
	started chan struct{} // closed when it did
	done    chan error    // the answer's end
}

// TaskLogs writes the output of task taskID on node to w, as the node's
// agent sends it, as opts says (opts.Follow keeps streaming until ctx
// ends). The node's agent must be connected to this manager.
func (s *Server) TaskLogs(ctx context.Context, node, taskID string, docker bool, opts api.LogOptions, w io.Writer) error {
	s.mu.Lock()
	var ls *linkSession
	for _, x := range s.sessions {
		if x.s.NodeID() == node {
			ls = x
		}
	}
	call := &logCall{node: node, ctx: ctx, w: w, started: make(chan struct{}), done: make(chan error, 1),
		req: logRequest{ID: newSessionID(), TaskID: taskID, Docker: docker, Options: opts}}
	if ls != nil {
		s.logCalls[call.req.ID] = call
	}
	s.mu.Unlock()
	if ls == nil {
		return fmt.Errorf("logs of task %s: the agent of node %s is not connected to this manager", taskID, node)
	}
	defer func() {
		s.mu.Lock()
		delete(s.logCalls, call.req.ID)
		s.mu.Unlock()
	}()
	select {
	case ls.logs <- call.req:
	default:
		return fmt.Errorf("logs of task %s: %d log requests already wait for node %s", taskID, maxLogQueue, node)
	}
	timer := time.NewTimer(logAnswerWait)
	defer timer.Stop()
	select {
	case <-call.started:
	case <-timer.C:
		return fmt.Errorf("logs of task %s: the agent of node %s did not answer within %s", taskID, node, logAnswerWait)
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-call.done:
		return err
	case <-ctx.Done():
		// The answer's handler sees ctx end too, and stops reading.
		<-call.done
		return nil
	}
}

// pollLogs answers an agent with the log requests waiting for its node,
// waiting up to logPollWait for one (204 when none came).
func (s *Server) pollLogs(w http.ResponseWriter, r *http.Request) {
	ls := s.session(w, r)
	if ls == nil {
		return
	}
	timer := time.NewTimer(logPollWait)
	defer timer.Stop()
	var reqs []logRequest
	select {
	case req := <-ls.logs:
		reqs = append(reqs, req)
	case <-timer.C:
	case <-r.Context().Done():
		return
	case <-s.ctx.Done():
	case <-ls.s.Done():
	}
	for len(reqs) > 0 && len(reqs) < maxLogQueue {
		select {
		case req := <-ls.logs:
			reqs = append(reqs, req)
			continue
		default:
		}
		break
	}
	if len(reqs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	httpjson.Write(w, http.StatusOK, reqs)
}

// answerLogs copies the body an agent sends, the output of a task, to
// the waiting log call: only the node the request was made of may answer
// it, once.
func (s *Server) answerLogs(w http.ResponseWriter, r *http.Request) {
	ls := s.session(w, r)
	if ls == nil {
		return
	}
	s.mu.Lock()
	call := s.logCalls[r.PathValue("req")]
	ok := call != nil && call.node == ls.s.NodeID() && !call.claimed
	if ok {
		call.claimed = true
	}
	s.mu.Unlock()
	if !ok {
		httpjson.WriteError(w, http.StatusForbidden, "no log request of this node waits under that ID")
		return
	}
	close(call.started)
	// An authenticated answer streams as long as its reader wants it: the
	// body deadline the agent port sets goes, and the reader's end (or
	// the server's) stops the read instead.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(call.ctx, func() { _ = rc.SetReadDeadline(time.Now()) })
	defer stop()
	stop2 := context.AfterFunc(s.ctx, func() { _ = rc.SetReadDeadline(time.Now()) })
	defer stop2()
	_, err := io.Copy(call.w, r.Body)
	if call.ctx.Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) && s.ctx.Err() != nil {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("logs of task %s: %w", call.req.TaskID, err)
	}
	call.done <- err
	w.WriteHeader(http.StatusNoContent)
}

// LogFunc writes the output of a task of this node to w (docker: on the
// docker runtime), as opts says (opts.Follow: streaming until ctx ends).
type LogFunc func(ctx context.Context, taskID string, docker bool, opts api.LogOptions, w io.Writer) error

// SetLogs makes the client answer the managers' log requests with f, on
// every session it opens from now on.
func (c *Client) SetLogs(f LogFunc) {
	c.mu.Lock()
	c.logs = f
	c.mu.Unlock()
}

// validTaskID: a request names a task by an ID that is safe in a path.
var validTaskID = regexp.MustCompile(`^[a-zA-Z0-9]{1,64}$`)

// serveLogs polls the session for log requests and answers each, until
// ctx ends or the session is gone.
func (s *session) serveLogs(ctx context.Context, f LogFunc) {
	sem := make(chan struct{}, maxAgentLogStreams)
	for ctx.Err() == nil {
		resp, err := s.c.send(ctx, http.MethodGet, s.path+suffixLogs, nil)
		if err != nil {
			var se *StatusError
			if ctx.Err() != nil || errors.As(err, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusGone) {
				return
			}
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		var reqs []logRequest
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&reqs)
		}
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, req := range reqs {
			if !validTaskID.MatchString(req.TaskID) || !validTaskID.MatchString(req.ID) {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // the manager's wait ends, saying the agent did not answer
			}
			go func(req logRequest) {
				defer func() { <-sem }()
				s.answerLogs(ctx, f, req)
			}(req)
		}
	}
}

// answerLogs streams one task's output to the manager as a POST body.
func (s *session) answerLogs(ctx context.Context, f LogFunc, req logRequest) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		err := f(ctx, req.TaskID, req.Docker, req.Options, pw)
		if err != nil {
			// The reader shows it as the task's last line.
			fmt.Fprintf(pw, "error reading logs: %v\n", err)
		}
		pw.Close()
	}()
	defer pr.Close()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+s.c.Addr()+s.path+suffixLogs+"/"+req.ID, pr)
	if err != nil {
		return
	}
	httpReq.Header.Set(headerInstance, s.c.instance)
	httpReq.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.c.http.Do(httpReq)
	if err == nil {
		resp.Body.Close()
	}
}
