// Package datadir owns a shoal data folder: its exclusive lock and the
// identity of the node that uses it.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// Dir is an open, locked data folder.
type Dir struct {
	Path string
	lock *os.File
}

// Open creates path if needed and takes its exclusive lock. It fails at once
// when another shoal holds the lock.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", path, err)
	}
	if err := checkAncestors(abs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if err := mkdirPrivate(abs); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if err := checkOwned(abs); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(abs, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data folder lock: %w", err)
	}
	if busy, err := lock(f); err != nil {
		f.Close()
		if busy {
			return nil, fmt.Errorf("data folder %s is in use by another running shoal (stop it, or pass another --data-dir)", abs)
		}
		return nil, fmt.Errorf("lock data folder %s: %w", abs, err)
	}
	return &Dir{Path: abs, lock: f}, nil
}

// Join returns a path inside the data folder.
func (d *Dir) Join(elem ...string) string {
	return filepath.Join(append([]string{d.Path}, elem...)...)
}

// NodeID returns the node's ID, made and saved on first use.
func (d *Dir) NodeID() (string, error) {
	p := d.Join("node-id")
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) != api.IDLength {
			return "", fmt.Errorf("data folder %s: node-id file is corrupt (%q); move the folder away to start fresh", d.Path, id)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	id := api.NewID()
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save node id: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("save node id: %w", err)
	}
	return id, nil
}

// Close releases the lock.
func (d *Dir) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close()
	d.lock = nil
	return err
}
