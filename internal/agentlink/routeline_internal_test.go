package agentlink

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// The routes stream writes its change lines by hand from the hub's
// encodings (appendEventsLine); a reader decodes them as routeUpdate.
// They must be the bytes json.Encoder writes for the same update, HTML
// escaping and the events the stream encodes itself included.
func TestEventsLineIsWhatTheEncoderWrites(t *testing.T) {
	svc := &api.Service{ID: "s<1>", Spec: api.ServiceSpec{Name: "web&co", Labels: map[string]string{"traefik.http.routers.r.rule": "Host(`a`) && PathPrefix(`/<x>`)"}}}
	task := &api.Task{ID: "t1", ServiceID: "s<1>", Status: api.TaskStatus{State: api.TaskStateRunning}}
	evs := trimRouteEvents([]api.Event{
		{Index: 7, Type: api.EventService, Action: api.ActionUpdate, ID: svc.ID, Service: svc},
		{Index: 7, Type: api.EventTask, Action: api.ActionCreate, ID: task.ID, Task: task},
	})
	// One the stream made itself (a newly routed service's task): no JSON yet.
	evs = append(evs, routeEvent{Event: api.Event{Index: 8, Type: api.EventTask, Action: api.ActionUpdate, ID: "t2", Task: routingTask(&api.Task{ID: "t2"})}})
	secrets := []*api.Secret{{ID: "sec", Spec: api.SecretSpec{Name: "users", Data: []byte("a:<b>")}}}
	for _, sec := range [][]*api.Secret{nil, secrets} {
		got, err := appendEventsLine(nil, evs, sec)
		if err != nil {
			t.Fatal(err)
		}
		u := routeUpdate{Secrets: sec}
		for _, ev := range evs {
			u.Events = append(u.Events, ev.Event)
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(u); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("secrets %d:\nline    %s\nencoder %s", len(sec), got, want.Bytes())
		}
	}
}
