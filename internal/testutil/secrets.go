package testutil

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Helpers of the tests that attack where secrets are written.

// ShmDir returns a fresh folder (0700) on /dev/shm, removed when the test
// ends; the test is skipped where /dev/shm is not a tmpfs.
func ShmDir(t testing.TB) string {
	t.Helper()
	if !shmIsTmpfs() {
		t.Skip("/dev/shm is not a tmpfs here")
	}
	dir, err := os.MkdirTemp("/dev/shm", "shoal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// OthersShmDir returns a new folder on /dev/shm as a local attacker would
// make it before shoal does: open to all (0777) and owned by nobody
// (uid 65534). The test is skipped unless it runs as root.
func OthersShmDir(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a folder to another user")
	}
	dir := filepath.Join(ShmDir(t), "others")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return dir
}

// SwapForLinks keeps moving the folder victim(n) away and putting a
// symbolic link to attacker in its place, for n = 0, 1, 2..., as a local
// user who could change the folders would, until the returned stop is
// called.
func SwapForLinks(attacker string, victim func(n int) string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			v := victim(n)
			if os.Rename(v, fmt.Sprintf("%s.moved-%d", v, n)) == nil {
				_ = os.Symlink(attacker, v)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// RequireNoSecretIn fails the test if any file below attacker (but the
// links the attack made) holds secret, or exists at all.
func RequireNoSecretIn(t testing.TB, attacker string, secret []byte) {
	t.Helper()
	got := 0
	_ = filepath.WalkDir(attacker, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		got++
		if b, _ := os.ReadFile(p); bytes.Contains(b, secret) && got <= 5 {
			t.Errorf("the attacker's folder got the secret in %s", p)
		} else if got <= 5 {
			t.Errorf("the attacker's folder got %s", p)
		}
		return nil
	})
	if got > 5 {
		t.Errorf("... %d files in all in the attacker's folder", got)
	}
}
