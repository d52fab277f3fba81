package state

import (
	"time"

	"github.com/shoalproject/shoal/api"
)

// Mirrors of Command, Op and api.Task whose task spec is raw JSON, so
// that the FSM can recognize a task creation's spec by its bytes
// (specsplice.go). They read the same entries as the types they mirror:
// TestTaskJSONMirrorsTask and TestOpJSONMirrorsOp compare them field for
// field, and fail when Op or api.Task gains a field these lack.

// commandJSON mirrors Command.
type commandJSON struct {
	Time   time.Time `json:"time"`
	Atomic bool      `json:"atomic,omitempty"`
	Ops    []opJSON  `json:"ops"`
}

// opJSON mirrors Op.
type opJSON struct {
	Kind          OpKind            `json:"k"`
	ID            string            `json:"id,omitempty"`
	ExpectVersion uint64            `json:"ev,omitempty"`
	Service       *api.Service      `json:"s,omitempty"`
	Task          *taskJSON         `json:"t,omitempty"`
	Node          *api.Node         `json:"n,omitempty"`
	NodeID        string            `json:"node,omitempty"`
	Desired       api.TaskState     `json:"d,omitempty"`
	Message       string            `json:"m,omitempty"`
	Report        *api.TaskReport   `json:"r,omitempty"`
	NodeStatus    *api.NodeStatus   `json:"ns,omitempty"`
	NodeSpec      *api.NodeSpec     `json:"nspec,omitempty"`
	Config        *api.Config       `json:"cfg,omitempty"`
	Secret        *api.Secret       `json:"sec,omitempty"`
	Network       *api.Network      `json:"net,omitempty"`
	Labels        map[string]string `json:"l,omitempty"`
	Pool          *PoolInit         `json:"pool,omitempty"`
	Tokens        []byte            `json:"tok,omitempty"`
	CertExpiry    time.Duration     `json:"cexp,omitempty"`
	CA            *RootCA           `json:"ca,omitempty"`
	ExpectCA      *RootCA           `json:"eca,omitempty"`
	Lock          *AutolockSetting  `json:"lock,omitempty"`
	CheckTokens   bool              `json:"ctok,omitempty"`
	ExpectTokens  []byte            `json:"etok,omitempty"`
}

// op returns the Op o mirrors, its task (if any) written to t, whose
// spec is left to the caller to decode from the raw bytes returned.
func (o *opJSON) op(t *api.Task) (Op, *rawSpec) {
	op := Op{
		Kind: o.Kind, ID: o.ID, ExpectVersion: o.ExpectVersion, Service: o.Service,
		Node: o.Node, NodeID: o.NodeID, Desired: o.Desired, Message: o.Message,
		Report: o.Report, NodeStatus: o.NodeStatus, NodeSpec: o.NodeSpec,
		Config: o.Config, Secret: o.Secret, Network: o.Network, Labels: o.Labels,
		Pool: o.Pool, Tokens: o.Tokens, CertExpiry: o.CertExpiry, CA: o.CA,
		ExpectCA: o.ExpectCA, Lock: o.Lock, CheckTokens: o.CheckTokens,
		ExpectTokens: o.ExpectTokens,
	}
	if o.Task == nil {
		return op, nil
	}
	o.Task.task(t)
	op.Task = t
	return op, &o.Task.Spec
}

// taskJSON mirrors api.Task, its Spec raw.
type taskJSON struct {
	ID string `json:"ID"`
	api.Meta
	ServiceID            string                        `json:"ServiceID"`
	ServiceName          string                        `json:"ServiceName"`
	Slot                 uint64                        `json:"Slot,omitempty"`
	NodeID               string                        `json:"NodeID,omitempty"`
	SpecVersion          uint64                        `json:"SpecVersion"`
	CreatedIndex         uint64                        `json:"CreatedIndex,omitempty"`
	Spec                 rawSpec                       `json:"Spec"`
	ServiceLabels        map[string]string             `json:"ServiceLabels,omitempty"`
	Endpoint             *api.EndpointSpec             `json:"Endpoint,omitempty"`
	DesiredState         api.TaskState                 `json:"DesiredState"`
	Status               api.TaskStatus                `json:"Status"`
	History              []api.TaskStatus              `json:"History,omitempty"`
	Endpoints            []api.TaskEndpoint            `json:"Endpoints,omitempty"`
	EndpointsUnconfirmed bool                          `json:"EndpointsUnconfirmed,omitempty"`
	NetworksAttachments  []api.NetworkAttachmentStatus `json:"NetworksAttachments,omitempty"`
	Restarts             uint64                        `json:"Restarts,omitempty"`
	RestartTimes         []time.Time                   `json:"RestartTimes,omitempty"`
}

// task sets t to the task j mirrors, without its spec.
func (j *taskJSON) task(t *api.Task) {
	*t = api.Task{
		ID: j.ID, Meta: j.Meta, ServiceID: j.ServiceID, ServiceName: j.ServiceName,
		Slot: j.Slot, NodeID: j.NodeID, SpecVersion: j.SpecVersion,
		CreatedIndex: j.CreatedIndex, ServiceLabels: j.ServiceLabels,
		Endpoint: j.Endpoint, DesiredState: j.DesiredState, Status: j.Status,
		History: j.History, Endpoints: j.Endpoints,
		EndpointsUnconfirmed: j.EndpointsUnconfirmed,
		NetworksAttachments:  j.NetworksAttachments, Restarts: j.Restarts,
		RestartTimes: j.RestartTimes,
	}
}

// rawSpec is a task spec's JSON as it stands in a log entry. A task
// object with the key twice (which no manager writes) is decoded into
// the one spec twice in turn, each merging into what the one before
// left, as encoding/json does: rest keeps the later occurrences so that
// decoding them gives the same.
type rawSpec struct {
	first []byte
	rest  [][]byte
}

// UnmarshalJSON keeps a copy of the spec's bytes (the decoder's may not
// outlive the call).
func (r *rawSpec) UnmarshalJSON(b []byte) error {
	c := append([]byte(nil), b...)
	if r.first == nil {
		r.first = c
	} else {
		r.rest = append(r.rest, c)
	}
	return nil
}
