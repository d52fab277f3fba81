package cluster

import (
	"errors"
	"fmt"
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

// RemoveServer removes the voter id, on the leader.
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
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%s: %w: %v", what, ErrNotLeader, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
