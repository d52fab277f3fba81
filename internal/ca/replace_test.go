package ca

import (
	"os"
	"path/filepath"
	"testing"
)

// A renewal that a crash interrupts at any point leaves an identity that
// loads: the old one before the new pair is whole, the new one after;
// nothing of the renewal is left beside it.
func TestReplaceNodeIdentitySurvivesACrash(t *testing.T) {
	r := newRoot(t, "c1")
	_, oldCert, oldKey := issue(t, r, "n1", RoleWorker, DefaultCertExpiry)
	newLeaf, newCert, newKey := issue(t, r, "n1", RoleWorker, DefaultCertExpiry)
	write := func(t *testing.T, dir, name string, data []byte) {
		t.Helper()
		if err := WriteFile0600(filepath.Join(dir, name), data); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		crash   func(t *testing.T, dir string)
		wantNew bool
	}{
		{"complete", func(t *testing.T, dir string) {
			if err := ReplaceNodeIdentity(dir, newCert, newKey, nil); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"only the new key written", func(t *testing.T, dir string) { write(t, dir, NodeKeyFile+nextSuffix, newKey) }, false},
		{"the new certificate torn", func(t *testing.T, dir string) {
			write(t, dir, NodeKeyFile+nextSuffix, newKey)
			write(t, dir, NodeCertFile+nextSuffix, newCert[:len(newCert)/2])
		}, false},
		{"both written, none renamed", func(t *testing.T, dir string) {
			write(t, dir, NodeKeyFile+nextSuffix, newKey)
			write(t, dir, NodeCertFile+nextSuffix, newCert)
		}, true},
		{"the key renamed, not the certificate", func(t *testing.T, dir string) {
			write(t, dir, NodeKeyFile, newKey)
			write(t, dir, NodeCertFile+nextSuffix, newCert)
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveNodeIdentity(dir, oldCert, oldKey, r.CertPEM); err != nil {
				t.Fatal(err)
			}
			c.crash(t, dir)
			id, err := LoadNodeIdentity(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := id.Cert.Leaf.Equal(newLeaf); got != c.wantNew {
				t.Fatalf("loaded the new certificate: %v, want %v", got, c.wantNew)
			}
			for _, name := range []string{NodeKeyFile + nextSuffix, NodeCertFile + nextSuffix} {
				if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
					t.Errorf("%s left: %v", name, err)
				}
			}
			for _, name := range []string{NodeKeyFile, NodeCertFile} {
				if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, want mode 0600", name, err)
				}
			}
		})
	}
}
