// Package state is the cluster's state: an indexed in-memory store
// (go-memdb) changed only by Commands that the Raft FSM applies, with a watch
// stream of the changes.
package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

// Store holds services, tasks, nodes, configs, secrets and networks. Objects it returns are shared and
// must not be modified: copy, change the copy, and write it with a Command.
type Store struct {
	db *memdb.MemDB
	// tasks are the tasks and their indexes (tasktable.go); they change
	// with db, under mu. A write clones tasks and writes the clone; the
	// views read tasksView, a clone of tasks made at each commit that is
	// never cloned or written itself (cloning a B-tree marks its nodes
	// shared, writing its own fields).
	tasks, tasksView taskTable
	// specs are the task templates the FSM recognizes in log entries by
	// their encoding (specsplice.go): a memo, not state.
	specs specCache
	// strs are the strings tasks repeat, shared (strtable.go): a memo,
	// not state.
	strs stringTable

	// mu orders commits with subscriptions, so a subscriber's snapshot and
	// its event stream neither overlap nor leave a gap.
	mu    sync.Mutex
	index uint64
	subs  map[*Subscription]struct{}
	// nodeSubs are the subscriptions to one node's tasks, by node ID
	// (SubscribeNode): a commit reaches only those of the nodes its
	// events touch.
	nodeSubs map[string]map[*Subscription]struct{}
	// advanced, made when someone waits (WaitIndex), is closed when the
	// index next moves.
	advanced chan struct{}

	// applied counts the log entries the FSM applied, their bytes and the
	// largest one (benchmarks read them: AppliedStats).
	appliedEntries, appliedBytes, appliedMax atomic.Uint64
}

// AppliedStats returns how many Raft log entries the store applied, their
// total bytes, and the size of the largest.
func (s *Store) AppliedStats() (entries, bytes, largest uint64) {
	return s.appliedEntries.Load(), s.appliedBytes.Load(), s.appliedMax.Load()
}

// NewStore returns an empty store.
func NewStore() *Store {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(fmt.Sprintf("state schema: %v", err))
	}
	tasks := newTaskTable()
	return &Store{db: db, tasks: tasks, tasksView: tasks.clone(), subs: map[*Subscription]struct{}{}, nodeSubs: map[string]map[*Subscription]struct{}{}}
}

// Index returns the Raft index of the last applied command.
func (s *Store) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// WaitIndex waits until the store applied Raft index idx, or ctx ends.
// A command that changes nothing still moves the index, though it
// publishes no event.
func (s *Store) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		s.mu.Lock()
		if s.index >= idx {
			s.mu.Unlock()
			return nil
		}
		if s.advanced == nil {
			s.advanced = make(chan struct{})
		}
		advanced := s.advanced
		s.mu.Unlock()
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setIndex moves the index to index and wakes WaitIndex; s.mu is held.
func (s *Store) setIndex(index uint64) {
	s.index = index
	if s.advanced != nil {
		close(s.advanced)
		s.advanced = nil
	}
}

// Read returns a consistent read-only view of the store at this moment.
func (s *Store) Read() *ReadTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readTx()
}

// readTx is a view of the store as it is; s.mu is held.
func (s *Store) readTx() *ReadTx {
	return &ReadTx{txn: s.db.Txn(false), tasks: s.tasksView, index: s.index}
}

// Subscribe returns a view of the store and a subscription to every change
// after it. Close the subscription when done.
//
// Its queue is unbounded: it is for the manager's own loops (controllers,
// dispatcher, ingress), which read as fast as events come and must never
// miss one. A reader the manager does not control uses SubscribeBounded.
func (s *Store) Subscribe() (*ReadTx, *Subscription) { return s.subscribe(0) }

// SubscribeBounded is Subscribe with at most limit events queued: once a
// commit would queue more, because the reader fell behind, the
// subscription is closed and its reads return ErrSlowSubscriber.
func (s *Store) SubscribeBounded(limit int) (*ReadTx, *Subscription) { return s.subscribe(limit) }

func (s *Store) subscribe(limit int) (*ReadTx, *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := newSubscription(s, limit)
	s.subs[sub] = struct{}{}
	return s.readTx(), sub
}

// Subscribers returns how many subscriptions are open.
func (s *Store) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.subs)
	for _, subs := range s.nodeSubs {
		n += len(subs)
	}
	return n
}

func (s *Store) unsubscribe(sub *Subscription) {
	s.mu.Lock()
	s.forget(sub)
	s.mu.Unlock()
}

// forget drops sub; s.mu is held.
func (s *Store) forget(sub *Subscription) {
	if sub.node == "" {
		delete(s.subs, sub)
		return
	}
	if subs := s.nodeSubs[sub.node]; subs != nil {
		if delete(subs, sub); len(subs) == 0 {
			delete(s.nodeSubs, sub.node)
		}
	}
}

// apply runs cmd as the write at Raft index and publishes its changes.
func (s *Store) apply(index uint64, cmd *Command) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	txn := s.db.Txn(true)
	w := &writer{txn: txn, tasks: s.tasks.clone(), index: index, now: cmd.Time, specs: &s.specs, strs: &s.strs}
	res := Result{Index: index}
	for i := range cmd.Ops {
		err := w.apply(&cmd.Ops[i])
		if err == nil {
			continue
		}
		if cmd.Atomic {
			txn.Abort()
			s.setIndex(index)
			res.Err = err
			return res
		}
		if res.OpErrs == nil {
			res.OpErrs = make([]error, len(cmd.Ops))
		}
		res.OpErrs[i] = err
	}
	txn.Commit()
	s.tasks, s.tasksView = w.tasks, w.tasks.clone()
	s.setIndex(index)
	for sub := range s.subs {
		if !sub.push(w.events) {
			delete(s.subs, sub)
		}
	}
	s.publishByNode(w.events)
	return res
}

// reset replaces the whole contents, as a snapshot restore does, and tells
// subscribers to read again.
func (s *Store) reset(data *snapshotData) error {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return err
	}
	// The restored tasks share their strings through a table of their
	// own, which replaces the store's with the contents: an apply may run
	// meanwhile (not under Raft, which restores between applies).
	var strs stringTable
	internSnapshot(data, &strs)
	var tasks taskTable
	txn := db.Txn(true)
	for _, restore := range []func() error{
		func() error {
			return restoreTable(txn, tableServices, "service", data.Services, func(o *api.Service) string { return o.ID })
		},
		func() (err error) {
			tasks, err = restoreTasks(data.Tasks)
			return err
		},
		func() error {
			return restoreTable(txn, tableNodes, "node", data.Nodes, func(o *api.Node) string { return o.ID })
		},
		func() error {
			return restoreTable(txn, tableConfigs, "config", data.Configs, func(o *api.Config) string { return o.ID })
		},
		func() error {
			return restoreTable(txn, tableSecrets, "secret", data.Secrets, func(o *api.Secret) string { return o.ID })
		},
		func() error {
			return restoreTable(txn, tableNetworks, "network", data.Networks, func(o *api.Network) string { return o.ID })
		},
		func() error {
			if data.Cluster == nil {
				return nil
			}
			return restoreTable(txn, tableCluster, "cluster config", []*ClusterConfig{data.Cluster}, func(*ClusterConfig) string { return clusterID })
		},
		func() error {
			return restoreTable(txn, tableHints, "hint", data.Hints, func(o *hint) string { return o.Key })
		},
	} {
		if err := restore(); err != nil {
			txn.Abort()
			return err
		}
	}
	txn.Commit()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db = db
	s.tasks, s.tasksView = tasks, tasks.clone()
	s.strs = strs
	s.setIndex(data.Index)
	reset := []api.Event{{Index: data.Index, Type: EventReset}}
	for sub := range s.subs {
		if !sub.push(reset) {
			delete(s.subs, sub)
		}
	}
	for _, subs := range s.nodeSubs {
		for sub := range subs {
			if !sub.push(reset) {
				s.forget(sub)
			}
		}
	}
	return nil
}

// restoreTable inserts a snapshot's objects of one kind. A snapshot is
// read back from disk, so a null or ID-less object (a damaged or edited
// file) is refused here instead of panicking, or breaking the store, later.
func restoreTable[T any](txn *memdb.Txn, table, kind string, objs []*T, id func(*T) string) error {
	for i, o := range objs {
		if o == nil {
			return fmt.Errorf("restore: %s %d of %d is null", kind, i+1, len(objs))
		}
		if id(o) == "" {
			return fmt.Errorf("restore: %s %d of %d has no ID", kind, i+1, len(objs))
		}
		if err := txn.Insert(table, o); err != nil {
			return fmt.Errorf("restore %s %s: %w", kind, id(o), err)
		}
	}
	return nil
}

// restoreTasks returns the task table of a snapshot's tasks, refusing a
// null or ID-less task as restoreTable does.
func restoreTasks(tasks []*api.Task) (taskTable, error) {
	tt := newTaskTable()
	for i, t := range tasks {
		if t == nil {
			return tt, fmt.Errorf("restore: task %d of %d is null", i+1, len(tasks))
		}
		if t.ID == "" {
			return tt, fmt.Errorf("restore: task %d of %d has no ID", i+1, len(tasks))
		}
		tt.put(t)
	}
	return tt, nil
}

// EventReset is the type of the event sent when the whole state was
// replaced (a snapshot restore): subscribers must read it again.
const EventReset = "reset"
