package ca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// nextSuffix marks the files of a renewed identity until they are in
// place.
const nextSuffix = ".next"

// ReplaceNodeIdentity puts a renewed certificate and key in place of the
// node's in dir, so that a crash at any point leaves a pair that loads:
// the new key and certificate are written aside first (NodeKeyFile.next,
// then NodeCertFile.next, each 0600 and synced), then renamed over the
// old ones, the key first; LoadNodeIdentity finishes or drops what a
// crash interrupted (finishReplace). rootPEM, unless nil, replaces the
// roots the node trusts (a CA rotation) first: the bundle a manager
// answers trusts the root of the node's current certificate too, so the
// old pair still loads with it.
func ReplaceNodeIdentity(dir string, certPEM, keyPEM, rootPEM []byte) error {
	key, cert := filepath.Join(dir, NodeKeyFile), filepath.Join(dir, NodeCertFile)
	if rootPEM != nil {
		if err := WriteFile0600(filepath.Join(dir, RootCertFile), rootPEM); err != nil {
			return fmt.Errorf("save the renewed node identity: %w", err)
		}
	}
	if err := WriteFile0600(key+nextSuffix, keyPEM); err != nil {
		return fmt.Errorf("save the renewed node identity: %w", err)
	}
	if err := WriteFile0600(cert+nextSuffix, certPEM); err != nil {
		return fmt.Errorf("save the renewed node identity: %w", err)
	}
	if err := os.Rename(key+nextSuffix, key); err != nil {
		return fmt.Errorf("save the renewed node identity: %w", err)
	}
	if err := os.Rename(cert+nextSuffix, cert); err != nil {
		return fmt.Errorf("save the renewed node identity: %w", err)
	}
	return syncDir(dir)
}

// finishReplace completes or drops a ReplaceNodeIdentity a crash
// interrupted in dir:
//   - both .next files: the renames had not begun; the new pair goes in
//     place if it is whole (it was written, each synced, before any
//     rename), else both are dropped and the old pair stays;
//   - the key's alone: the certificate's was not written; dropped;
//   - the certificate's alone: the key was renamed; the certificate
//     follows.
func finishReplace(dir string) error {
	key, cert := filepath.Join(dir, NodeKeyFile), filepath.Join(dir, NodeCertFile)
	_, kerr := os.Stat(key + nextSuffix)
	_, cerr := os.Stat(cert + nextSuffix)
	hasKey, hasCert := kerr == nil, cerr == nil
	switch {
	case hasKey && hasCert:
		if whole(cert+nextSuffix, key+nextSuffix, filepath.Join(dir, RootCertFile)) {
			if err := os.Rename(key+nextSuffix, key); err != nil {
				return err
			}
			if err := os.Rename(cert+nextSuffix, cert); err != nil {
				return err
			}
		} else if err := errors.Join(os.Remove(key+nextSuffix), os.Remove(cert+nextSuffix)); err != nil {
			return err
		}
	case hasKey:
		if err := os.Remove(key + nextSuffix); err != nil {
			return err
		}
	case hasCert:
		if err := os.Rename(cert+nextSuffix, cert); err != nil {
			return err
		}
	default:
		return nil
	}
	// What was finished or dropped must stay so after another crash.
	return syncDir(dir)
}

// whole reports whether the files make an identity that loads.
func whole(certPath, keyPath, rootPath string) bool {
	c, err1 := os.ReadFile(certPath)
	k, err2 := os.ReadFile(keyPath)
	r, err3 := os.ReadFile(rootPath)
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	_, err := NewNodeIdentity(c, k, r)
	return err == nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
