package ca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/secretkey"
)

// Files of a manager's root in its data folder. The key is sealed with
// the manager's secret key; see the "Node identity" decision for why it
// is meant to move into Raft.
const (
	RootKeyFile = "ca.key.sealed"
)

// LoadOrCreateRoot returns the root kept in dir (RootCertFile and
// RootKeyFile, sealed with key), making a new one for a new cluster the
// first time. Both files are 0600.
func LoadOrCreateRoot(dir string, key *secretkey.Key, now time.Time) (*RootCA, error) {
	certPath, keyPath := filepath.Join(dir, RootCertFile), filepath.Join(dir, RootKeyFile)
	certPEM, cerr := os.ReadFile(certPath)
	sealed, kerr := os.ReadFile(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		r, err := OpenRootCA(certPEM, sealed, key)
		if err != nil {
			return nil, fmt.Errorf("cluster CA in %s: %w", dir, err)
		}
		return r, nil
	case errors.Is(cerr, os.ErrNotExist) && errors.Is(kerr, os.ErrNotExist):
	case cerr != nil && !errors.Is(cerr, os.ErrNotExist):
		return nil, fmt.Errorf("read cluster CA: %w", cerr)
	case kerr != nil && !errors.Is(kerr, os.ErrNotExist):
		return nil, fmt.Errorf("read cluster CA key: %w", kerr)
	default:
		// One without the other: making a new root would lock every node
		// out; the operator must restore the missing file.
		return nil, fmt.Errorf("cluster CA in %s: one of %s and %s is missing: restore it from a backup (a new CA would lock every node out)",
			dir, RootCertFile, RootKeyFile)
	}
	r, err := NewRootCA(api.NewID(), now)
	if err != nil {
		return nil, err
	}
	sealed, err = r.SealKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("save cluster CA: %w", err)
	}
	// The key first: a certificate without its key is the damaged case.
	if err := WriteFile0600(keyPath, sealed); err != nil {
		return nil, fmt.Errorf("save cluster CA: %w", err)
	}
	if err := WriteFile0600(certPath, r.CertPEM); err != nil {
		return nil, fmt.Errorf("save cluster CA: %w", err)
	}
	return r, nil
}

// IssueSelf gives a manager its own certificate from root, with a key
// made here and kept in memory: the manager shows it on its listeners.
func IssueSelf(root *RootCA, nodeID string, now time.Time) (*NodeIdentity, error) {
	return IssueSelfFor(root, nodeID, DefaultCertExpiry, now)
}

// IssueSelfFor is IssueSelf for a certificate life of expiry (zero:
// DefaultCertExpiry).
func IssueSelfFor(root *RootCA, nodeID string, expiry time.Duration, now time.Time) (*NodeIdentity, error) {
	return issueSelf(root, root, nodeID, expiry, now)
}

// issueSelf is IssueSelfFor from sign, with the roots trust names (sign's
// own, or a rotation's two) to trust.
func issueSelf(sign, trust *RootCA, nodeID string, expiry time.Duration, now time.Time) (*NodeIdentity, error) {
	if expiry == 0 {
		expiry = DefaultCertExpiry
	}
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		return nil, err
	}
	certPEM, err := sign.Issue(csrPEM, nodeID, RoleManager, expiry, now)
	if err != nil {
		return nil, err
	}
	return NewNodeIdentity(certPEM, keyPEM, trust.BundlePEM())
}

// LoadOrCreateWorkerToken returns the worker join token kept in the file
// at path, making one (mode 0600) when there is none or when the one
// there does not name root (a token of the format before certificates,
// or of another CA: it admits nobody). replaced says a file was
// rewritten.
func LoadOrCreateWorkerToken(path string, root *RootCA) (tok Token, replaced bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if t, perr := ParseToken(string(b)); perr == nil && t.Digest == root.Digest() {
			return t, false, nil
		}
		replaced = true
	case !errors.Is(err, os.ErrNotExist):
		return Token{}, false, fmt.Errorf("read join token: %w", err)
	}
	jt, err := NewJoinTokens(root)
	if err != nil {
		return Token{}, false, err
	}
	if err := WriteFile0600(path, []byte(jt.Worker.String()+"\n")); err != nil {
		return Token{}, false, fmt.Errorf("save join token: %w", err)
	}
	return jt.Worker, replaced, nil
}
