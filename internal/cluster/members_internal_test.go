package cluster

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// A membership change Raft refused as not the leader left nothing in the
// log, so the API may pass it on to the leader (ErrNotWritten): a demote
// forwarded to a manager that had just lost a handed-over leadership
// failed instead (TestDemoteManagers, once in CI). One whose leadership
// was lost mid-way may have been applied, and is not passed on.
func TestMembershipRefusalSaysWhetherAnythingWasWritten(t *testing.T) {
	if err := membershipErr("remove manager m1", raft.ErrNotLeader); !errors.Is(err, ErrNotLeader) || !errors.Is(err, ErrNotWritten) {
		t.Errorf("not the leader: %v, want ErrNotLeader and ErrNotWritten", err)
	}
	if err := membershipErr("remove manager m1", raft.ErrLeadershipLost); !errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNotWritten) {
		t.Errorf("leadership lost: %v, want ErrNotLeader and not ErrNotWritten", err)
	}
}
