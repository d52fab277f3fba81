package state

import (
	"testing"

	"github.com/hashicorp/raft"
)

// TestFSMUndecodableEntryWakesWaitIndex: an entry that does not decode
// still moves the index, so whoever waits for it (WaitIndex: a forwarded
// write, an autolock change) is woken then, not at the next command.
func TestFSMUndecodableEntryWakesWaitIndex(t *testing.T) {
	f := NewFSM(NewStore())
	// What WaitIndex(1) leaves behind once it blocks.
	f.store.mu.Lock()
	f.store.advanced = make(chan struct{})
	advanced := f.store.advanced
	f.store.mu.Unlock()
	f.Apply(&raft.Log{Index: 1, Data: []byte("{not json")})
	if f.store.Index() != 1 {
		t.Fatalf("index %d after the entry at 1", f.store.Index())
	}
	select {
	case <-advanced:
	default:
		t.Fatal("the index moved to 1 but a WaitIndex(1) is not woken")
	}
}
