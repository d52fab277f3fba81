// Package state is the cluster's state: an indexed in-memory store
// (go-memdb) changed only by Commands that the Raft FSM applies, with a watch
// stream of the changes.
package state

import (
	"fmt"
	"sync"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

// Store holds services, tasks, nodes, configs, secrets and networks. Objects it returns are shared and
// must not be modified: copy, change the copy, and write it with a Command.
type Store struct {
	db *memdb.MemDB

	// mu orders commits with subscriptions, so a subscriber's snapshot and
	// its event stream neither overlap nor leave a gap.
	mu    sync.Mutex
	index uint64
	subs  map[*Subscription]struct{}
}

// NewStore returns an empty store.
func NewStore() *Store {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(fmt.Sprintf("state schema: %v", err))
	}
	return &Store{db: db, subs: map[*Subscription]struct{}{}}
}

// Index returns the Raft index of the last applied command.
func (s *Store) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// Read returns a consistent read-only view of the store at this moment.
func (s *Store) Read() *ReadTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &ReadTx{txn: s.db.Txn(false), index: s.index}
}

// Subscribe returns a view of the store and a subscription to every change
// after it. Close the subscription when done.
func (s *Store) Subscribe() (*ReadTx, *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := newSubscription(s)
	s.subs[sub] = struct{}{}
	return &ReadTx{txn: s.db.Txn(false), index: s.index}, sub
}

func (s *Store) unsubscribe(sub *Subscription) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// apply runs cmd as the write at Raft index and publishes its changes.
func (s *Store) apply(index uint64, cmd *Command) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	txn := s.db.Txn(true)
	w := &writer{txn: txn, index: index, now: cmd.Time}
	res := Result{Index: index}
	for i := range cmd.Ops {
		err := w.apply(&cmd.Ops[i])
		if err == nil {
			continue
		}
		if cmd.Atomic {
			txn.Abort()
			s.index = index
			res.Err = err
			return res
		}
		if res.OpErrs == nil {
			res.OpErrs = make([]error, len(cmd.Ops))
		}
		res.OpErrs[i] = err
	}
	txn.Commit()
	s.index = index
	for sub := range s.subs {
		sub.push(w.events)
	}
	return res
}

// reset replaces the whole contents, as a snapshot restore does, and tells
// subscribers to read again.
func (s *Store) reset(data *snapshotData) error {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return err
	}
	txn := db.Txn(true)
	insert := func(table, kind, id string, o any) error {
		if err := txn.Insert(table, o); err != nil {
			txn.Abort()
			return fmt.Errorf("restore %s %s: %w", kind, id, err)
		}
		return nil
	}
	for _, o := range data.Services {
		if err := insert(tableServices, "service", o.ID, o); err != nil {
			return err
		}
	}
	for _, o := range data.Tasks {
		if err := insert(tableTasks, "task", o.ID, o); err != nil {
			return err
		}
	}
	for _, o := range data.Nodes {
		if err := insert(tableNodes, "node", o.ID, o); err != nil {
			return err
		}
	}
	for _, o := range data.Configs {
		if err := insert(tableConfigs, "config", o.ID, o); err != nil {
			return err
		}
	}
	for _, o := range data.Secrets {
		if err := insert(tableSecrets, "secret", o.ID, o); err != nil {
			return err
		}
	}
	for _, o := range data.Networks {
		if err := insert(tableNetworks, "network", o.ID, o); err != nil {
			return err
		}
	}
	if data.Cluster != nil {
		if err := insert(tableCluster, "cluster config", clusterID, data.Cluster); err != nil {
			return err
		}
	}
	for _, o := range data.Hints {
		if err := insert(tableHints, "hint", o.Key, o); err != nil {
			return err
		}
	}
	txn.Commit()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db = db
	s.index = data.Index
	for sub := range s.subs {
		sub.push([]api.Event{{Index: data.Index, Type: EventReset}})
	}
	return nil
}

// EventReset is the type of the event sent when the whole state was
// replaced (a snapshot restore): subscribers must read it again.
const EventReset = "reset"
