package state

import (
	"maps"
	"reflect"

	"github.com/shoalproject/shoal/api"
)

// internSpec makes t, a task of svc at svc's spec version, share the
// service's spec instead of holding its own decoded copy: every task of a
// service of 1,000 replicas otherwise carries 1,000 copies of the same
// command, placement, labels and endpoint spec, each decoded from its own
// log entry. Only what is equal is shared, so the task reads (and encodes
// to JSON) exactly as before. Store objects are never changed in place,
// so the sharing is safe: a new service version is a new object, and the
// tasks of the old one keep the old one's values.
func internSpec(t *api.Task, svc *api.Service) {
	if svc == nil || t.ServiceID != svc.ID || t.SpecVersion != svc.SpecVersion {
		return
	}
	// Equal strings, each its own decoded copy otherwise.
	t.ServiceID = svc.ID
	if t.ServiceName == svc.Spec.Name {
		t.ServiceName = svc.Spec.Name
	}
	// A spec taken from the service's template (specsplice.go) is a
	// shallow copy of it: found without DeepEqual's allocations.
	if sameSpec(&t.Spec, &svc.Spec.TaskTemplate) || reflect.DeepEqual(&t.Spec, &svc.Spec.TaskTemplate) {
		t.Spec = svc.Spec.TaskTemplate
	}
	if t.ServiceLabels != nil && maps.Equal(t.ServiceLabels, svc.Spec.Labels) {
		t.ServiceLabels = svc.Spec.Labels
	}
	if t.Endpoint != nil && (t.Endpoint == svc.Spec.EndpointSpec || reflect.DeepEqual(t.Endpoint, svc.Spec.EndpointSpec)) {
		t.Endpoint = svc.Spec.EndpointSpec
	}
}

// internSnapshot is internSpec for a snapshot's tasks, against the
// snapshot's services; their repeated strings go through strs, and their
// histories are trimmed to their length.
func internSnapshot(data *snapshotData, strs *stringTable) {
	svcs := make(map[string]*api.Service, len(data.Services))
	for _, s := range data.Services {
		if s != nil {
			svcs[s.ID] = s
		}
	}
	for _, t := range data.Tasks {
		if t != nil {
			internSpec(t, svcs[t.ServiceID])
			strs.shareTask(t)
			// Decoding grows a history by doubling (five statuses take
			// room for eight, 384 bytes unused): a restored task holds
			// it at its length, as an applied one does (advance).
			if cap(t.History) > len(t.History) {
				t.History = append(make([]api.TaskStatus, 0, len(t.History)), t.History...)
			}
		}
	}
}
