package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNoQuorum is returned for a write while this manager reaches no
// majority of the managers: no leader is known, or the one that was can
// no longer commit.
var ErrNoQuorum = errors.New("no quorum: this manager cannot reach a majority of the managers, so the cluster takes no writes until they are back")

// membershipTimeout bounds a membership change: the new configuration
// must commit on a majority of the new set of voters.
const membershipTimeout = 20 * time.Second

// Member is one voter of the Raft configuration.
type Member struct {
	ID   string
	Addr string
}

// Members is the current Raft configuration's voters.
func (r *Raft) Members() ([]Member, error) {
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, Member{ID: string(s.ID), Addr: string(s.Address)})
		}
	}
	return out, nil
}

// InConfiguration says whether id is a server (voter or not) of the
// newest Raft configuration this manager knows, committed or not (the
// leader dials a manager it adds before the change commits); empty says
// the configuration has no server at all: a manager that joins and has
// not heard from the leader yet.
func (r *Raft) InConfiguration(id string) (in, empty bool) {
	servers := r.raft.GetConfiguration().Configuration().Servers
	for _, s := range servers {
		if string(s.ID) == id {
			return true, false
		}
	}
	return false, len(servers) == 0
}

// LeaderAddr is the leader's address in the Raft configuration, empty
// when no leader is known.
func (r *Raft) LeaderAddr() string {
	addr, _ := r.raft.LeaderWithID()
	return string(addr)
}

// AddVoter adds (or moves to addr) the voter id, on the leader. It
// returns once the new configuration committed. Raft changes one server
// at a time, so a majority of the old and of the new set always overlap.
func (r *Raft) AddVoter(id, addr string) error {
	err := r.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error()
	return membershipErr("add manager "+id, err)
}

// AddNonvoter adds the server id at addr as a non-voter, on the leader:
// it gets the log but counts in no majority, so that a manager that dies
// before it has started is no dead voter (etcd's learners). A voter stays
// one (its address moves to addr).
func (r *Raft) AddNonvoter(id, addr string) error {
	err := r.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error()
	return membershipErr("add manager "+id+" as a non-voter", err)
}

// Nonvoter reports whether id is a non-voter of the Raft configuration
// as this manager knows it.
func (r *Raft) Nonvoter(id string) (bool, error) {
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return false, fmt.Errorf("raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return s.Suffrage == raft.Nonvoter, nil
		}
	}
	return false, nil
}

// RemoveServer removes the server id (voter or not), on the leader.
func (r *Raft) RemoveServer(id string) error {
	err := r.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error()
	return membershipErr("remove manager "+id, err)
}

// TransferLeadership hands the leadership to another voter and returns
// once it has (or failed).
func (r *Raft) TransferLeadership() error {
	return membershipErr("transfer leadership", r.raft.LeadershipTransfer().Error())
}

// LastContact is when this follower last heard from a leader (zero on a
// leader).
func (r *Raft) LastContact() time.Time { return r.raft.LastContact() }

func membershipErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		// Refused before the change entered the log: the API may send it
		// on to the leader (a leader that just handed over, say).
		return fmt.Errorf("%s: %w: %w: %v", what, ErrNotLeader, ErrNotWritten, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%s: %w: %v", what, ErrNotLeader, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// leaderWatch tells waiters when Raft's idea of the leader changes.
type leaderWatch struct {
	obs  *raft.Observer
	ch   chan raft.Observation
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{}
}

func watchLeader(r *raft.Raft) *leaderWatch {
	w := &leaderWatch{ch: make(chan raft.Observation, 16), done: make(chan struct{}), changed: make(chan struct{})}
	w.obs = raft.NewObserver(w.ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(w.obs)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.done:
				return
			case <-w.ch:
				w.mu.Lock()
				close(w.changed)
				w.changed = make(chan struct{})
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *leaderWatch) next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

func (w *leaderWatch) close(r *raft.Raft) {
	w.once.Do(func() {
		r.DeregisterObserver(w.obs)
		close(w.done)
	})
	w.wg.Wait()
}

// LeaderChanged returns a channel closed at the next change of leader.
func (r *Raft) LeaderChanged() <-chan struct{} { return r.leaders.next() }

// WaitLeaderAddr returns the leader's address once one is known, or
// ErrNoQuorum when none is by the time ctx ends.
func (r *Raft) WaitLeaderAddr(ctx context.Context) (string, error) {
	for {
		ch := r.leaders.next()
		if addr := r.LeaderAddr(); addr != "" {
			return addr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("%w (no leader elected)", ErrNoQuorum)
		}
	}
}
