package state

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/shoalproject/shoal/api"
)

// FSM applies committed Raft log entries to a Store. It is the only writer
// of the store.
type FSM struct {
	store *Store
}

// NewFSM returns the state machine that feeds store.
func NewFSM(store *Store) *FSM { return &FSM{store: store} }

// Store returns the store the FSM writes.
func (f *FSM) Store() *Store { return f.store }

// Apply applies one log entry. It returns a Result.
func (f *FSM) Apply(l *raft.Log) any {
	f.store.appliedEntries.Add(1)
	f.store.appliedBytes.Add(uint64(len(l.Data)))
	for size := uint64(len(l.Data)); ; {
		m := f.store.appliedMax.Load()
		if size <= m || f.store.appliedMax.CompareAndSwap(m, size) {
			break
		}
	}
	var cmd Command
	if err := decodeCommand(l.Data, &cmd, &f.store.specs); err != nil {
		// A log entry that does not decode was written by a newer or broken
		// proposer; skipping it keeps every replica identical.
		f.store.mu.Lock()
		f.store.setIndex(l.Index)
		f.store.mu.Unlock()
		return Result{Index: l.Index, Err: fmt.Errorf("decode command at index %d: %w", l.Index, err)}
	}
	return f.store.apply(l.Index, &cmd)
}

// snapshotData is the serialized form of the whole store.
type snapshotData struct {
	Index    uint64         `json:"index"`
	Services []*api.Service `json:"services"`
	Tasks    []*api.Task    `json:"tasks"`
	Nodes    []*api.Node    `json:"nodes"`
	// Configs, Secrets (data encrypted) and Networks are absent from the
	// snapshots of older versions.
	Configs  []*api.Config  `json:"configs,omitempty"`
	Secrets  []*api.Secret  `json:"secrets,omitempty"`
	Networks []*api.Network `json:"networks,omitempty"`
	// Cluster and Hints hold the address pool and where each allocation
	// resumes; the allocations themselves are on the objects.
	Cluster *ClusterConfig `json:"cluster,omitempty"`
	Hints   []*hint        `json:"hints,omitempty"`
}

// Snapshot captures the store at this moment. Persist runs later, while
// writes go on, from the captured read view.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{tx: f.store.Read()}, nil
}

// Restore replaces the store with a snapshot's contents.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var data snapshotData
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return f.store.reset(&data)
}

type fsmSnapshot struct {
	tx *ReadTx
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	data := snapshotData{
		Index:    s.tx.Index(),
		Services: s.tx.Services(),
		Tasks:    s.tx.Tasks(),
		Nodes:    s.tx.Nodes(),
		Configs:  s.tx.Configs(),
		Secrets:  s.tx.Secrets(),
		Networks: s.tx.Networks(),
		Cluster:  s.tx.clusterConfig(),
		Hints:    s.tx.hints(),
	}
	if err := json.NewEncoder(sink).Encode(&data); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
