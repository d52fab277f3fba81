package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// events streams every change to the cluster state as JSON lines, one
// api.Event per line, until the client goes away. ?type=service,task
// narrows the stream; ?service=REF keeps one service's events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	types := map[string]bool{}
	if t := r.URL.Query().Get("type"); t != "" {
		for _, v := range strings.Split(t, ",") {
			types[strings.TrimSpace(v)] = true
		}
	}
	tx, sub := s.m.Store().Subscribe()
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
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	// A first line tells the client where the stream starts.
	_ = enc.Encode(api.Event{Index: tx.Index(), Type: "sync"})
	if flusher != nil {
		flusher.Flush()
	}
	for {
		evs, err := sub.Next(r.Context())
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
			if err := enc.Encode(scrubEvent(ev)); err != nil {
				return
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
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
