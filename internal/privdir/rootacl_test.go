package privdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeACL stands for Windows' ACLs: a folder is private when the fake
// made it, and the parent's answer is set by the test.
type fakeACL struct {
	mu     sync.Mutex
	made   map[string]bool
	parent string // ParentProblem's answer
	fail   error
}

func (a *fakeACL) hooks() *ACL {
	return &ACL{
		Mkdir: func(p string) error {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			a.made[p] = true
			return nil
		},
		Problem: func(f *os.File) (string, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.fail != nil {
				return "", a.fail
			}
			if !a.made[f.Name()] {
				return "lets Users (S-1-5-32-545) write", nil
			}
			return "", nil
		},
		ParentProblem: func(*os.File) (string, error) { return a.parent, nil },
	}
}

func TestRootDirACL(t *testing.T) {
	base := t.TempDir()
	acl := &fakeACL{made: map[string]bool{}}
	d, err := openRoot(filepath.Join(base, "files"), acl.hooks())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Made private, and so are the folders made in it.
	sub, err := d.Mkdir("node")
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	if !acl.made[filepath.Join(base, "files")] || !acl.made[filepath.Join(base, "files", "node")] {
		t.Errorf("made %v: want both folders made by the ACL's Mkdir", acl.made)
	}

	// A folder that was there, open to others, is refused.
	if err := os.Mkdir(filepath.Join(base, "files", "shared"), 0o700); err != nil {
		t.Fatal(err)
	}
	var unsafe *UnsafeError
	_, err = d.Sub("shared")
	if !errors.As(err, &unsafe) || !strings.Contains(err.Error(), "shared lets Users (S-1-5-32-545) write") || !strings.Contains(unsafe.Fix, "remove it") {
		t.Errorf("Sub of a folder open to others: %v", err)
	}

	// A parent whose entries others may rename.
	acl.parent = "lets Users (S-1-5-32-545) write (rename or remove its entries)"
	_, err = openRoot(filepath.Join(base, "files"), acl.hooks())
	if !errors.As(err, &unsafe) || unsafe.Path != base || !strings.Contains(unsafe.Fix, "parent") {
		t.Errorf("Open below a parent open to others: %v", err)
	}

	// A check that cannot tell fails, but says so.
	acl.parent, acl.fail = "", errors.New("GetSecurityInfo: access denied")
	_, err = d.Sub("node")
	if err == nil || errors.As(err, &unsafe) || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("Sub when the ACL cannot be read: %v", err)
	}
}
