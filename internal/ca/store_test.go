package ca

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/secretkey"
)

// A manager's root is made once and found again, sealed at rest; a
// folder with half of it is refused rather than given a new root.
func TestLoadOrCreateRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	k, _ := secretkey.Generate()
	r, err := LoadOrCreateRoot(dir, k, t0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateRoot(dir, k, t0.Add(time.Hour))
	if err != nil || again.Digest() != r.Digest() || !again.CanSign() {
		t.Fatalf("second load: %v (same root %v)", err, err == nil && again.Digest() == r.Digest())
	}
	sealed, err := os.ReadFile(filepath.Join(dir, RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "PRIVATE KEY") {
		t.Fatal("the CA key is on disk in the clear")
	}
	for _, name := range []string{RootCertFile, RootKeyFile} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want mode 0600", name, err)
		}
	}
	other, _ := secretkey.Generate()
	if _, err := LoadOrCreateRoot(dir, other, t0); err == nil {
		t.Fatal("the CA key opened with another secret key")
	}
	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateRoot(dir, k, t0); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("half a CA: %v, want refused", err)
	}
	if _, err := os.Stat(filepath.Join(dir, RootKeyFile)); err == nil {
		t.Fatal("a new key was written next to the old certificate")
	}
}

func TestLoadOrCreateWorkerToken(t *testing.T) {
	r := newRoot(t, "c1")
	path := filepath.Join(t.TempDir(), "join-token")
	tok, replaced, err := LoadOrCreateWorkerToken(path, r)
	if err != nil || replaced || tok.Digest != r.Digest() {
		t.Fatalf("first: %+v %v %v", tok, replaced, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, want mode 0600", err)
	}
	again, replaced, err := LoadOrCreateWorkerToken(path, r)
	if err != nil || replaced || again != tok {
		t.Fatalf("second: %+v %v %v, want %+v", again, replaced, err, tok)
	}
	// The token of before certificates (no CA digest), and one of another
	// CA, admit nobody: both are replaced.
	for _, old := range []string{"SHOALTKN-1-" + strings.Repeat("a", 52), Token{Digest: newRoot(t, "c1").Digest(), Secret: tok.Secret}.String()} {
		if err := os.WriteFile(path, []byte(old+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, replaced, err := LoadOrCreateWorkerToken(path, r)
		if err != nil || !replaced || got.Digest != r.Digest() || got.String() == old {
			t.Fatalf("over %q: %+v %v %v", old, got, replaced, err)
		}
	}
}

// A key file is 0600 and written where it is named, whatever a leftover
// (or planted) temporary file next to it is: a world-readable one, or a
// symbolic link to somewhere else.
func TestWriteFile0600IgnoresALeftoverTemporary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, NodeKeyFile)
	if err := os.WriteFile(path+".tmp", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile0600(path, []byte("key")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file after a leftover 0644 temporary: %v %v, want mode 0600", fi.Mode(), err)
	}
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Symlink(elsewhere, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile0600(path, []byte("key2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(elsewhere); !os.IsNotExist(err) {
		t.Fatalf("the key was written through a planted symbolic link (stat target: %v)", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "key2" {
		t.Fatalf("key file %q %v, want key2", b, err)
	}
}
