package secretkey_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/secretkey"
)

func TestLoadOrCreateMakesAPrivateKeyOnceAndKeepsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft", secretkey.FileName)
	k1, err := secretkey.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != secretkey.Size {
		t.Fatalf("key file mode %v size %d, want 0600 and %d bytes", fi.Mode().Perm(), fi.Size(), secretkey.Size)
	}
	sealed, err := k1.Seal([]byte("pw"), secretkey.SecretContext("a"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := secretkey.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open(sealed, secretkey.SecretContext("a")); err != nil || string(got) != "pw" {
		t.Fatalf("the reloaded key opens %q, %v", got, err)
	}
}

func TestLoadOrCreateRefusesADamagedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), secretkey.FileName)
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := secretkey.LoadOrCreate(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "short" {
		t.Fatal("the damaged key was replaced")
	}
}

func TestSealOpen(t *testing.T) {
	k, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("correct horse battery staple")
	a, _ := k.Seal(plain, "secret/1")
	b, _ := k.Seal(plain, "secret/1")
	if bytes.Contains(a, plain) || bytes.Equal(a, b) {
		t.Fatal("sealed data shows the plaintext or repeats")
	}
	if got, err := k.Open(a, "secret/1"); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(a, "secret/2"); !errors.Is(err, secretkey.ErrDecrypt) {
		t.Fatalf("Open under another object: %v, want ErrDecrypt", err)
	}
	other, _ := secretkey.Generate()
	if _, err := other.Open(a, "secret/1"); !errors.Is(err, secretkey.ErrDecrypt) {
		t.Fatalf("Open with another key: %v, want ErrDecrypt", err)
	}
	bad := append([]byte(nil), a...)
	bad[len(bad)-1] ^= 1
	if _, err := k.Open(bad, "secret/1"); !errors.Is(err, secretkey.ErrDecrypt) {
		t.Fatalf("Open of damaged data: %v, want ErrDecrypt", err)
	}
	if _, err := k.Open([]byte{1, 2}, "secret/1"); !errors.Is(err, secretkey.ErrDecrypt) {
		t.Fatalf("Open of short data: %v", err)
	}
	if got, err := k.Open(mustSeal(t, k, nil), "x"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty data round trip: %q %v", got, err)
	}
}

func mustSeal(t *testing.T, k *secretkey.Key, p []byte) []byte {
	t.Helper()
	s, err := k.Seal(p, "x")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
