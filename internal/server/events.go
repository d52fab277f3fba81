package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// defaultStreamWriteTimeout bounds each write of a stream (events, logs):
// a client that stops reading for this long is gone, and its stream ends
// rather than holding memory and a goroutine for as long as its
// connection stays open. It is the agent link's routes stream timeout.
const defaultStreamWriteTimeout = 30 * time.Second

// events streams every change to the cluster state as JSON lines, one
// api.Event per line, until the client goes away. ?type=service,task
// narrows the stream (an unknown type is 400); ?service=REF keeps one
// service's events.
//
// A client that falls more than api.MaxEventQueue events behind gets a
// last line of type api.EventStreamError saying so, and the stream ends;
// one whose connection takes no data for the write timeout is cut off.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	types := map[string]bool{}
	if t := r.URL.Query().Get("type"); t != "" {
		for _, v := range strings.Split(t, ",") {
			v = strings.TrimSpace(v)
			if !slices.Contains(api.EventTypes, v) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown event type %q: want %s", v, strings.Join(api.EventTypes, ", ")))
				return
			}
			types[v] = true
		}
	}
	limit := s.EventQueue
	if limit <= 0 {
		limit = api.MaxEventQueue
	}
	tx, sub := s.m.Store().SubscribeBounded(limit)
	defer sub.Close()
	serviceID := ""
	if ref := r.URL.Query().Get("service"); ref != "" {
		svc, err := tx.FindService(ref)
		if err != nil {
			s.fail(w, err)
			return
		}
		serviceID = svc.ID
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	out := s.newStreamWriter(w, r, "events")
	// A first line tells the client where the stream starts.
	if !out.send(api.Event{Index: tx.Index(), Type: "sync"}) {
		return
	}
	for {
		evs, err := sub.Next(r.Context())
		if errors.Is(err, state.ErrSlowSubscriber) {
			s.log.Warn("events stream ended: the client fell behind", "remote", r.RemoteAddr, "queued", limit)
			out.send(api.Event{Index: s.m.Store().Index(), Type: api.EventStreamError,
				Message: fmt.Sprintf("this client fell more than %d events behind; read the state again and reconnect", limit)})
			return
		}
		if err != nil {
			return
		}
		for _, ev := range evs {
			if len(types) > 0 && !types[ev.Type] {
				continue
			}
			if serviceID != "" && !eventOfService(ev, serviceID) {
				continue
			}
			if !out.write(scrubEvent(ev)) {
				return
			}
		}
		if !out.flush() {
			return
		}
	}
}

// streamWriter writes the JSON lines of a stream, each write within the
// server's stream write timeout.
type streamWriter struct {
	s       *Server
	rc      *http.ResponseController
	enc     *json.Encoder
	timeout time.Duration
	what    string
	remote  string
}

func (s *Server) newStreamWriter(w http.ResponseWriter, r *http.Request, what string) *streamWriter {
	return &streamWriter{s: s, rc: http.NewResponseController(w), enc: json.NewEncoder(w),
		timeout: s.streamWriteTimeout(), what: what, remote: r.RemoteAddr}
}

// send writes and flushes one line, and reports whether the stream goes on.
func (sw *streamWriter) send(v any) bool { return sw.write(v) && sw.flush() }

// write writes one line, maybe only into the response's buffer.
func (sw *streamWriter) write(v any) bool {
	err := sw.deadline()
	if err == nil {
		err = sw.enc.Encode(v)
	}
	return sw.ok(err)
}

// flush sends what is buffered.
func (sw *streamWriter) flush() bool {
	err := sw.deadline()
	if err == nil {
		err = sw.rc.Flush()
	}
	if errors.Is(err, http.ErrNotSupported) {
		err = nil // a writer that cannot flush sends as it goes
	}
	return sw.ok(err)
}

func (sw *streamWriter) ok(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		sw.s.log.Warn(sw.what+" stream ended: the client stopped reading", "remote", sw.remote, "timeout", sw.timeout)
	}
	return err == nil
}

// deadline sets the write deadline of the next write. A ResponseWriter
// without deadlines (a test's recorder, which never blocks) is fine.
func (sw *streamWriter) deadline() error {
	err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

func (s *Server) streamWriteTimeout() time.Duration {
	if s.StreamWriteTimeout > 0 {
		return s.StreamWriteTimeout
	}
	return defaultStreamWriteTimeout
}

func eventOfService(ev api.Event, id string) bool {
	switch ev.Type {
	case api.EventService:
		return ev.ID == id
	case api.EventTask:
		return ev.Task != nil && ev.Task.ServiceID == id
	}
	return false
}
