// Package cluster runs the managers' Raft group: it opens the log and
// snapshots in the data folder, bootstraps a new cluster, and proposes
// commands to the state machine.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/shoalproject/shoal/internal/state"
)

// noLeaderWait bounds the wait for a new leader after this one lost its
// leadership in the middle of a write, before the write is answered "no
// quorum".
const noLeaderWait = 5 * time.Second

// ErrNotWritten marks a refusal of a write that certainly left no trace:
// it may be sent again, to the leader.
var ErrNotWritten = errors.New("nothing was written")

// ErrNotLeader is returned by Propose on a manager that is not the leader.
var ErrNotLeader = errors.New("this manager is not the Raft leader")

// Config says where and how a manager runs Raft.
type Config struct {
	// Dir is the folder for the Raft log, stable store and snapshots.
	Dir string
	// NodeID is this manager's Raft server ID.
	NodeID string
	// Existing says the data folder held a cluster before (the caller
	// knows it from files of its own): Open then refuses to bootstrap a
	// new cluster when the Raft state is missing.
	Existing bool
	// Transport carries RPCs to the other managers; nil is
	// LocalTransport, for a one-manager cluster, which opens no port.
	Transport Transport
	// Join says this manager joins a cluster that exists: a new folder
	// waits for the leader to add it instead of bootstrapping its own.
	Join bool
	// Logger receives Raft's own log lines (warnings and worse).
	Logger *slog.Logger
	// Fast shortens Raft's timeouts, for tests and one-node clusters.
	Fast bool
	// Observe, if set, is told how long Raft's work took (metrics):
	// "commit", a write proposed on the leader until committed and
	// applied, and "apply", one entry applied to the store on any
	// manager.
	Observe func(op string, d time.Duration)
}

// Raft is a running Raft member feeding a state.Store.
type Raft struct {
	raft      *raft.Raft
	store     *state.Store
	transport Transport
	logs      *raftboltdb.BoltStore
	leaders   *leaderWatch
	snaps     *raft.FileSnapshotStore
	observe   func(op string, d time.Duration)
}

// Open starts Raft on cfg.Dir, restoring state from its snapshots and log.
// A folder with no Raft state bootstraps a new one-voter cluster. A
// damaged folder fails with a *DamagedError, with nothing in it changed.
func Open(cfg Config, store *state.Store) (*Raft, error) {
	// Everything that can find the folder damaged runs before anything is
	// written to it.
	existing, err := checkFolder(cfg.Dir, cfg.NodeID, cfg.Existing)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft folder: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Raft's lines are muted while the start can still fail: its error
	// is the one message, and says more.
	out := &slogWriter{l: logger}
	out.mute.Store(true)
	defer out.mute.Store(false)
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: out})

	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	var fsm raft.FSM = state.NewFSM(store)
	if cfg.Observe != nil {
		fsm = timedFSM{FSM: fsm, observe: cfg.Observe}
	}
	if err := restoreNewest(cfg.Dir, snaps, fsm); err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.Dir, logFile)
	logs, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	transport := cfg.Transport
	if transport == nil {
		transport = LocalTransport()
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	// restoreNewest has restored the newest snapshot; Raft would fall
	// back to an older one, silently, when it fails.
	rc.NoSnapshotRestoreOnStart = true
	if cfg.Fast {
		rc.HeartbeatTimeout = 200 * time.Millisecond
		rc.ElectionTimeout = 200 * time.Millisecond
		rc.LeaderLeaseTimeout = 100 * time.Millisecond
		rc.CommitTimeout = 5 * time.Millisecond
	}

	var r *raft.Raft
	err = guard(logPath, func() error {
		var err error
		r, err = raft.NewRaft(rc, fsm, logs, logs, snaps, transport)
		return err
	})
	if err != nil {
		transport.Close()
		logs.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	if !existing && !cfg.Join {
		// A folder written by an older shoal has a TCP address here; the
		// address is a label on LocalTransport, and Raft finds itself in
		// the configuration by its ID.
		f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			ID: rc.LocalID, Address: transport.LocalAddr(),
		}}})
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			transport.Close()
			logs.Close()
			return nil, fmt.Errorf("bootstrap raft: %w", err)
		}
	}
	return &Raft{raft: r, store: store, transport: transport, logs: logs, leaders: watchLeader(r), snaps: snaps, observe: cfg.Observe}, nil
}

// restoreNewest restores the newest snapshot into the store before the log
// is opened for writing, so a snapshot that does not restore stops the
// start with nothing changed.
func restoreNewest(dir string, snaps *raft.FileSnapshotStore, fsm raft.FSM) error {
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("list raft snapshots: %w", err)
	}
	if len(list) == 0 {
		return nil
	}
	path := filepath.Join(dir, snapshotsDir, list[0].ID, stateFile)
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return &DamagedError{File: path, Problem: fmt.Sprintf("can't be read (%v)", err)}
	}
	return guard(path, func() error {
		if err := fsm.Restore(rc); err != nil {
			return &DamagedError{File: path, Problem: fmt.Sprintf("does not restore (%v)", err)}
		}
		return nil
	})
}

// openLog opens the log and stable store for writing.
func openLog(path string) (logs *raftboltdb.BoltStore, err error) {
	err = guard(path, func() error {
		var bf boltFile
		defer bf.closeIfLeaked()
		l, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: bf.options(bbolt.Options{Timeout: time.Second})})
		bf.opened()
		if err != nil {
			return boltOpenError(path, err)
		}
		logs = l
		return nil
	})
	return logs, err
}

// Propose replicates cmd and applies it, returning the state machine's
// result. It fails with ErrNotLeader on a follower.
func (r *Raft) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	// raft.Apply cannot be cancelled, and reads a timeout <= 0 as "none":
	// a caller that has given up must not write.
	if err := ctx.Err(); err != nil {
		return state.Result{}, err
	}
	if cmd.Time.IsZero() {
		cmd.Time = time.Now().UTC()
	}
	data, err := state.EncodeCommand(cmd)
	if err != nil {
		return state.Result{}, fmt.Errorf("encode command: %w", err)
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	f := r.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrLeadershipLost) {
			// Lost to another manager, or for want of a majority: a new
			// leader soon, or none.
			wctx, cancel := context.WithTimeout(ctx, noLeaderWait)
			_, werr := r.WaitLeaderAddr(wctx)
			cancel()
			if werr != nil {
				return state.Result{}, fmt.Errorf("%w: %w (this write may or may not have been applied)", ErrNotLeader, werr)
			}
		}
		if errors.Is(err, raft.ErrNotLeader) {
			// Refused before it entered the log: nothing was written.
			return state.Result{}, fmt.Errorf("%w: %w: %v", ErrNotLeader, ErrNotWritten, err)
		}
		if errors.Is(err, raft.ErrLeadershipLost) {
			return state.Result{}, fmt.Errorf("%w: %v (the write may or may not have been applied: read before trying again)", ErrNotLeader, err)
		}
		if errors.Is(err, raft.ErrEnqueueTimeout) {
			// The leader could not commit in time: it reaches no majority.
			return state.Result{}, fmt.Errorf("%w (%v)", ErrNoQuorum, err)
		}
		return state.Result{}, fmt.Errorf("raft apply: %w", err)
	}
	res, ok := f.Response().(state.Result)
	if !ok {
		return state.Result{}, fmt.Errorf("raft apply: unexpected response %T", f.Response())
	}
	if r.observe != nil {
		r.observe("commit", time.Since(start))
	}
	return res, nil
}

// timedFSM tells observe how long each entry took to apply.
type timedFSM struct {
	raft.FSM
	observe func(op string, d time.Duration)
}

func (f timedFSM) Apply(l *raft.Log) any {
	start := time.Now()
	res := f.FSM.Apply(l)
	if l.Type == raft.LogCommand {
		f.observe("apply", time.Since(start))
	}
	return res
}

// SnapshotSize is the size in bytes of the newest snapshot, 0 when there
// is none.
func (r *Raft) SnapshotSize() int64 {
	list, err := r.snaps.List()
	if err != nil || len(list) == 0 {
		return 0
	}
	return list[0].Size
}

// LeaderCh reports leadership changes: true when this manager becomes the
// leader, false when it stops being it.
func (r *Raft) LeaderCh() <-chan bool { return r.raft.LeaderCh() }

// IsLeader reports whether this manager is the leader now.
func (r *Raft) IsLeader() bool { return r.raft.State() == raft.Leader }

// Term is Raft's current term.
func (r *Raft) Term() uint64 { return r.raft.CurrentTerm() }

// LeaderID returns the leader's ID (its node ID), empty when unknown.
func (r *Raft) LeaderID() string {
	_, id := r.raft.LeaderWithID()
	return string(id)
}

// Barrier waits until every entry committed before it has been applied to
// the store, so reads after it see all acknowledged writes.
func (r *Raft) Barrier(timeout time.Duration) error { return r.raft.Barrier(timeout).Error() }

// Stats are hashicorp/raft's figures (state, term, last_log_index,
// commit_index, applied_index, …), for metrics.
func (r *Raft) Stats() map[string]string { return r.raft.Stats() }

// Snapshot forces a snapshot now (tests, and before shutdown).
func (r *Raft) Snapshot() error { return r.raft.Snapshot().Error() }

// Close stops Raft and closes its files.
func (r *Raft) Close() error {
	r.leaders.close(r.raft)
	err := r.raft.Shutdown().Error()
	r.transport.Close()
	if cerr := r.logs.Close(); err == nil {
		err = cerr
	}
	return err
}

// slogWriter sends hclog's lines to slog, unless muted.
type slogWriter struct {
	l    *slog.Logger
	mute atomic.Bool
}

func (w *slogWriter) Write(p []byte) (int, error) {
	if !w.mute.Load() {
		w.l.Warn(string(trimNewline(p)), "component", "raft")
	}
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
