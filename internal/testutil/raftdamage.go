package testutil

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc64"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"go.etcd.io/bbolt"
)

// boltPage is the page size of the bbolt files the tests make (the OS's).
const boltPage = 4096

// RaftDamage is one way a manager's Raft folder gets damaged: a crash, a
// full disk, a bad copy, a hand edit. The damage tests of internal/cluster
// and test/e2e run every one of them.
type RaftDamage struct {
	// Name says what is damaged.
	Name string
	// File is the damaged file, relative to the Raft folder: the start
	// error must name it.
	File string
	// Apply damages the Raft folder dir. It needs a folder with at least
	// one snapshot and log entries after it.
	Apply func(t *testing.T, dir string)
}

// RaftDamages lists the damages a manager must refuse to start from.
func RaftDamages() []RaftDamage {
	return []RaftDamage{
		{Name: "empty raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			mustDo(t, os.Truncate(filepath.Join(dir, "raft.db"), 0))
		}},
		{Name: "missing raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			mustDo(t, os.Remove(filepath.Join(dir, "raft.db")))
		}},
		{Name: "garbage raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			mustDo(t, os.WriteFile(filepath.Join(dir, "raft.db"), bytes.Repeat([]byte("not a bolt database "), 500), 0o600))
		}},
		{Name: "truncated raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			// Keep the meta pages and one more: the pages they point to
			// are gone.
			mustDo(t, os.Truncate(filepath.Join(dir, "raft.db"), 3*boltPage))
		}},
		{Name: "zeroed pages in raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			// Zero every page but the two meta pages: the file keeps its
			// size and valid meta pages, its tree is gone.
			p := filepath.Join(dir, "raft.db")
			b, err := os.ReadFile(p)
			mustDo(t, err)
			clear(b[2*boltPage:])
			mustDo(t, os.WriteFile(p, b, 0o600))
		}},
		{Name: "zeroed freelist page in raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			// bbolt reads the free page list only when it opens a file
			// for writing: the tree itself is whole.
			p := filepath.Join(dir, "raft.db")
			b, err := os.ReadFile(p)
			mustDo(t, err)
			for meta := range 2 {
				// The meta page: a 16-byte page header, then magic,
				// version, page size, flags, the root bucket (16 bytes),
				// and the freelist's page ID.
				id := binary.LittleEndian.Uint64(b[meta*boltPage+48:])
				clear(b[id*boltPage : (id+1)*boltPage])
			}
			mustDo(t, os.WriteFile(p, b, 0o600))
		}},
		{Name: "log entry lost from raft.db", File: "raft.db", Apply: func(t *testing.T, dir string) {
			// The entry before the last, as a damaged leaf page loses it.
			db, err := bbolt.Open(filepath.Join(dir, "raft.db"), 0o600, nil)
			mustDo(t, err)
			defer db.Close()
			mustDo(t, db.Update(func(tx *bbolt.Tx) error {
				c := tx.Bucket([]byte("logs")).Cursor()
				c.Last()
				k, _ := c.Prev()
				if k == nil {
					t.Fatal("raft.db holds fewer than two log entries")
				}
				return c.Delete()
			}))
		}},
		{Name: "null service in the snapshot", File: "state.bin", Apply: func(t *testing.T, dir string) {
			rewriteSnapshot(t, dir, func(state map[string]any) { state["services"] = []any{nil} })
		}},
		{Name: "damaged snapshot state", File: "state.bin", Apply: func(t *testing.T, dir string) {
			p := filepath.Join(newestSnapshot(t, dir), "state.bin")
			b, err := os.ReadFile(p)
			mustDo(t, err)
			b[len(b)/2] ^= 0xff
			mustDo(t, os.WriteFile(p, b, 0o600))
		}},
		{Name: "garbage snapshot meta.json", File: "meta.json", Apply: func(t *testing.T, dir string) {
			mustDo(t, os.WriteFile(filepath.Join(newestSnapshot(t, dir), "meta.json"), []byte("garbage"), 0o600))
		}},
	}
}

// newestSnapshot returns the folder of the newest snapshot in the Raft
// folder dir (hashicorp/raft names them term-index-time).
func newestSnapshot(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	mustDo(t, err)
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatalf("no snapshot in %s", dir)
	}
	sort.Strings(names)
	return filepath.Join(dir, "snapshots", names[len(names)-1])
}

// rewriteSnapshot edits the newest snapshot's state and fixes its size and
// checksum in meta.json, as a hand edit that knows the format would.
func rewriteSnapshot(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	snap := newestSnapshot(t, dir)
	b, err := os.ReadFile(filepath.Join(snap, "state.bin"))
	mustDo(t, err)
	var state map[string]any
	mustDo(t, json.Unmarshal(b, &state))
	edit(state)
	b, err = json.Marshal(state)
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(snap, "state.bin"), b, 0o600))

	mb, err := os.ReadFile(filepath.Join(snap, "meta.json"))
	mustDo(t, err)
	var meta map[string]json.RawMessage
	mustDo(t, json.Unmarshal(mb, &meta))
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	h.Write(b)
	crc, err := json.Marshal(h.Sum(nil))
	mustDo(t, err)
	meta["CRC"] = crc
	meta["Size"] = json.RawMessage(strconv.Itoa(len(b)))
	mb, err = json.Marshal(meta)
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(snap, "meta.json"), mb, 0o600))
}

// FolderFiles reads every regular file under dir, by path relative to
// dir, to compare a folder before and after something that must not
// change it.
func FolderFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return nil
	})
	mustDo(t, err)
	return files
}

// SameFiles reports the first difference between two FolderFiles
// results, or "" when they are the same.
func SameFiles(before, after map[string][]byte) string {
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			return p + " was removed"
		case !bytes.Equal(a, b):
			return p + " was changed"
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			return p + " was created"
		}
	}
	return ""
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
