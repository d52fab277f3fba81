package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// DamagedError says that a file of the Raft folder is damaged or missing.
// Open returns it before it has changed anything in the folder, and before
// any state is served: a manager that started from it anyway would lose
// acknowledged writes, or start a new, empty cluster whose agents stop
// every task they no longer know.
type DamagedError struct {
	// File is the damaged or missing file.
	File string
	// Problem says what is wrong with it.
	Problem string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s %s: the data folder is damaged, and was left as it is: restore it from a backup, or move it away to start a new cluster", e.File, e.Problem)
}

// LogFile is the Raft log's file in a Raft folder.
const LogFile = "raft.db"

// Files of a Raft folder (hashicorp/raft's FileSnapshotStore names the
// snapshot files).
const (
	logFile      = LogFile
	snapshotsDir = "snapshots"
	metaFile     = "meta.json"
	stateFile    = "state.bin"
)

// Buckets of raft-boltdb's file.
var (
	logsBucket = []byte("logs")
	confBucket = []byte("conf")
)

// checkFolder reads the Raft folder dir, changing nothing, and refuses
// (with a *DamagedError) what Raft would panic on, silently skip, start
// a new cluster from, or never lead: a cluster whose configuration does
// not hold nodeID. existing says the caller knows the folder held a
// cluster before. It reports whether the folder holds Raft state.
//
// Its cost is one walk over the log's keys and the decoding of the entries
// after the newest snapshot, which Raft reads again to start.
func checkFolder(dir, nodeID string, existing bool) (bool, error) {
	newest, err := checkSnapshots(filepath.Join(dir, snapshotsDir))
	if err != nil {
		return false, err
	}
	path := filepath.Join(dir, logFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if existing || newest != nil {
			return false, &DamagedError{File: path, Problem: "is missing, but the data folder held a cluster"}
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read raft log: %w", err)
	case fi.Size() == 0:
		return false, &DamagedError{File: path, Problem: "is empty (0 bytes)"}
	}
	var first, last uint64
	err = guard(path, func() error {
		var err error
		first, last, err = checkLogKeys(path, fi.Size())
		return err
	})
	if err != nil {
		return false, err
	}
	if err := checkCoverage(path, first, last, newest); err != nil {
		return false, err
	}
	if last == 0 && newest == nil {
		if existing {
			return false, &DamagedError{File: path, Problem: "holds no log entries, but the data folder held a cluster"}
		}
		return false, nil
	}
	from := first
	if newest != nil && newest.Index+1 > from {
		from = newest.Index + 1
	}
	var conf *raft.Configuration
	if newest != nil && len(newest.Configuration.Servers) > 0 {
		conf = &newest.Configuration
	}
	err = guard(path, func() error {
		logConf, err := checkLogEntries(path, from, last)
		if logConf != nil {
			conf = logConf
		}
		return err
	})
	if err != nil {
		return true, err
	}
	return true, checkMember(path, nodeID, conf)
}

// checkMember checks that the newest Raft configuration, when there is
// one, holds nodeID: Raft would start, but never elect a node it does
// not hold, and the start would hang. Its node-id was replaced, or the
// folder comes from another node.
func checkMember(path, nodeID string, conf *raft.Configuration) error {
	if conf == nil {
		return nil
	}
	ids := make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		if string(s.ID) == nodeID {
			return nil
		}
		ids = append(ids, string(s.ID))
	}
	return &DamagedError{File: path, Problem: fmt.Sprintf("holds a cluster of managers %s, not of this node %s (its node-id does not belong with this Raft log)", strings.Join(ids, ", "), nodeID)}
}

// checkSnapshots reads the metadata of every snapshot in dir and returns
// the newest (the one Raft starts from), nil when there is none. Raft
// itself skips a snapshot whose meta.json it can't read, and would start
// from an older one, or from none.
func checkSnapshots(dir string) (*raft.SnapshotMeta, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read raft snapshots: %w", err)
	}
	var newest *raft.SnapshotMeta
	for _, e := range ents {
		// Raft ignores files, and a .tmp folder is a snapshot it was
		// still writing (it is never read).
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		metaPath := filepath.Join(dir, e.Name(), metaFile)
		b, err := os.ReadFile(metaPath)
		if err != nil {
			return nil, &DamagedError{File: metaPath, Problem: fmt.Sprintf("can't be read (%v)", err)}
		}
		var meta raft.SnapshotMeta
		if err := json.Unmarshal(b, &meta); err != nil {
			return nil, &DamagedError{File: metaPath, Problem: fmt.Sprintf("is not a snapshot's metadata (%v)", err)}
		}
		if meta.Version < raft.SnapshotVersionMin || meta.Version > raft.SnapshotVersionMax {
			return nil, &DamagedError{File: metaPath, Problem: fmt.Sprintf("has snapshot version %d, which this shoal can't read", meta.Version)}
		}
		if meta.ID != e.Name() {
			return nil, &DamagedError{File: metaPath, Problem: fmt.Sprintf("names snapshot %q, not its folder's %q", meta.ID, e.Name())}
		}
		statePath := filepath.Join(dir, e.Name(), stateFile)
		if fi, err := os.Stat(statePath); err != nil || fi.Size() != meta.Size {
			return nil, &DamagedError{File: statePath, Problem: fmt.Sprintf("is missing or not the %d bytes its meta.json says", meta.Size)}
		}
		if newest == nil || newerSnapshot(&meta, newest) {
			m := meta
			newest = &m
		}
	}
	return newest, nil
}

// newerSnapshot orders snapshots as Raft's file store does.
func newerSnapshot(a, b *raft.SnapshotMeta) bool {
	if a.Term != b.Term {
		return a.Term > b.Term
	}
	if a.Index != b.Index {
		return a.Index > b.Index
	}
	return a.ID > b.ID
}

// checkLogKeys checks, in a read-only transaction, that the bbolt file is
// whole and that its log entries' indexes follow each other, and returns
// the first and last index (0, 0 for an empty log).
func checkLogKeys(path string, size int64) (first, last uint64, err error) {
	var bf boltFile
	defer bf.closeIfLeaked()
	db, err := bbolt.Open(path, 0o600, bf.options(bbolt.Options{ReadOnly: true, Timeout: time.Second}))
	bf.opened()
	if err != nil {
		return 0, 0, boltOpenError(path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Size() > size {
			return &DamagedError{File: path, Problem: fmt.Sprintf("is truncated: it has %d bytes of the %d it wrote", size, tx.Size())}
		}
		logs, conf := tx.Bucket(logsBucket), tx.Bucket(confBucket)
		if logs == nil || conf == nil {
			return &DamagedError{File: path, Problem: "is not a Raft log (its buckets are missing)"}
		}
		c := logs.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 8 {
				return &DamagedError{File: path, Problem: fmt.Sprintf("has a log key of %d bytes", len(k))}
			}
			idx := binary.BigEndian.Uint64(k)
			switch {
			case first == 0:
				first = idx
			case idx != last+1:
				return &DamagedError{File: path, Problem: "has lost log " + entryRange(last+1, idx-1)}
			}
			last = idx
		}
		return nil
	})
	return first, last, err
}

// checkCoverage checks that the log and the newest snapshot leave no gap:
// Raft replays the log from the entry after the snapshot.
func checkCoverage(path string, first, last uint64, newest *raft.SnapshotMeta) error {
	if last == 0 {
		return nil
	}
	var after uint64 // the index the state is known up to without the log
	if newest != nil {
		after = newest.Index
	}
	if first > after+1 {
		return &DamagedError{File: path, Problem: fmt.Sprintf("has lost log %s (its log starts at %d, and no snapshot holds them)", entryRange(after+1, first-1), first)}
	}
	return nil
}

// entryRange names the log entries from..to.
func entryRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("entry %d", from)
	}
	return fmt.Sprintf("entries %d to %d", from, to)
}

// checkLogEntries decodes the entries from..last, which Raft reads when it
// starts (and panics when one is missing or does not decode), and returns
// the last configuration among them, nil when there is none.
func checkLogEntries(path string, from, last uint64) (*raft.Configuration, error) {
	if from > last {
		return nil, nil
	}
	var bf boltFile
	defer bf.closeIfLeaked()
	logs, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: bf.options(bbolt.Options{ReadOnly: true, Timeout: time.Second})})
	bf.opened()
	if err != nil {
		return nil, boltOpenError(path, err)
	}
	defer logs.Close()
	var entry raft.Log
	var conf *raft.Configuration
	for i := from; i <= last; i++ {
		if err := logs.GetLog(i, &entry); err != nil {
			return nil, &DamagedError{File: path, Problem: fmt.Sprintf("has a damaged log entry %d (%v)", i, err)}
		}
		if entry.Type == raft.LogConfiguration {
			c := raft.DecodeConfiguration(entry.Data) // panics, as in Raft, on damage
			conf = &c
		}
	}
	return conf, nil
}

// boltOpenError is the error of a failed bbolt open: a *DamagedError when
// bbolt found the file invalid, else the cause (permissions, a lock).
func boltOpenError(path string, err error) error {
	if errors.Is(err, bbolt.ErrInvalid) || errors.Is(err, bbolt.ErrChecksum) || errors.Is(err, bbolt.ErrVersionMismatch) {
		return &DamagedError{File: path, Problem: fmt.Sprintf("is not a Raft log (%v)", err)}
	}
	return fmt.Errorf("open raft log %s: %w", path, err)
}

// boltFile remembers the file bbolt opens. bbolt panics on some damaged
// pages while it opens a file, instead of failing, and keeps the file (and
// its lock) open; closeIfLeaked, deferred around the open, closes it then.
type boltFile struct {
	f     *os.File
	owned bool
}

// options returns opts with the opener that remembers the file.
func (b *boltFile) options(opts bbolt.Options) *bbolt.Options {
	opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		b.f = f
		return f, err
	}
	return &opts
}

// opened says bbolt's open returned: the DB, or the failed open itself,
// closes the file.
func (b *boltFile) opened() { b.owned = true }

func (b *boltFile) closeIfLeaked() {
	if !b.owned && b.f != nil {
		b.f.Close()
	}
}

// guard runs f, turning a panic into a *DamagedError on file. bbolt and
// Raft panic on damaged files, and reading a memory-mapped file past its
// end faults; all of that happens on this goroutine while a folder is
// checked and opened.
func guard(file string, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &DamagedError{File: file, Problem: fmt.Sprintf("is damaged (reading it failed: %v)", p)}
		}
	}()
	return f()
}
