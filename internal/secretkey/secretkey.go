// Package secretkey keeps secrets encrypted at rest. A manager holds one
// 256-bit key in its data folder (raft/secret.key, mode 0600, made on first
// start); the API seals a secret's data with it (AES-256-GCM) before the
// create command is proposed, so the Raft log, its snapshots and the store
// only ever hold ciphertext, and the dispatcher opens it when it hands the
// secret to the agent of a node that runs a task naming it.
package secretkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FileName is the key's file in a manager's Raft folder.
const FileName = "secret.key"

// Size is the key's length in bytes (AES-256).
const Size = 32

// version is the first byte of sealed data: the format, so that another
// cipher or a key rotation can come later.
const version byte = 1

// ErrDecrypt is returned when sealed data cannot be opened: a different
// key, a different object, or damaged data.
var ErrDecrypt = errors.New("cannot decrypt secret data (wrong key or damaged data)")

// Key seals and opens secret data. It is safe for concurrent use.
type Key struct {
	aead cipher.AEAD
}

// New returns the key of raw, which must be Size bytes.
func New(raw []byte) (*Key, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(raw), Size)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Key{aead: aead}, nil
}

// Generate returns a new random key that lives in memory only (tests).
func Generate() (*Key, error) {
	raw := make([]byte, Size)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return New(raw)
}

// LoadOrCreate reads the key at path, or makes a random one there (mode
// 0600) when the file does not exist.
func LoadOrCreate(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		if len(raw) != Size {
			return nil, fmt.Errorf("secret key %s: %d bytes, want %d: the file is damaged (restore it from a backup: the cluster's secrets cannot be read without it)", path, len(raw), Size)
		}
		return New(raw)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	raw = make([]byte, Size)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("make secret key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("make secret key: %w", err)
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, raw); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("save secret key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("save secret key: %w", err)
	}
	return New(raw)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Seal encrypts plain, bound to context (the object it belongs to, e.g.
// "secret/ID"): data sealed for one object does not open as another's.
func (k *Key) Seal(plain []byte, context string) ([]byte, error) {
	ns := k.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+k.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	return k.aead.Seal(out, out[1:1+ns], plain, []byte(context)), nil
}

// Open decrypts what Seal returned for the same context.
func (k *Key) Open(sealed []byte, context string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != version {
		return nil, ErrDecrypt
	}
	plain, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(context))
	if err != nil {
		return nil, ErrDecrypt
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, nil
}

// SecretContext is the context a secret's data is sealed under.
func SecretContext(secretID string) string { return "secret/" + secretID }
