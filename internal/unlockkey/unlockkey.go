// Package unlockkey is Swarm's autolock: the unlock key (a key-encrypting
// key the operator keeps) and the locked form of a manager's secrets key
// on disk. With autolock, DATA/raft/secret.key holds the secrets key
// sealed with the unlock key, so a copy of the data folder opens neither
// the secrets in Raft nor the CA key sealed with it.
package unlockkey

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/shoalproject/shoal/internal/secretkey"
)

// Prefix starts an unlock key's text, as SWMKEY-1- starts Swarm's (and
// SHOALTKN-1- shoal's join tokens): the format's version is the 1.
const Prefix = "SHOALKEY-1-"

// Size is the unlock key's length in bytes (AES-256).
const Size = 32

// textLen is the length of a key's text: the prefix and 32 bytes in
// unpadded standard base64, as Swarm writes its keys.
var textLen = len(Prefix) + base64.RawStdEncoding.EncodedLen(Size)

// ErrInvalid is the answer to a wrong unlock key, in Swarm's words.
var ErrInvalid = errors.New("swarm could not be unlocked: invalid key provided")

// Key is an unlock key.
type Key struct {
	raw [Size]byte
}

// Generate returns a new random unlock key.
func Generate() (*Key, error) {
	var k Key
	if _, err := rand.Read(k.raw[:]); err != nil {
		return nil, fmt.Errorf("make unlock key: %w", err)
	}
	return &k, nil
}

// Parse reads a key's text (surrounding white space ignored), as
// String writes it.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, Prefix) {
		return nil, fmt.Errorf("%w: an unlock key starts with %s", ErrInvalid, Prefix)
	}
	if len(s) != textLen {
		return nil, fmt.Errorf("%w: an unlock key is %d characters, not %d", ErrInvalid, textLen, len(s))
	}
	raw, err := base64.RawStdEncoding.Strict().DecodeString(s[len(Prefix):])
	if err != nil || len(raw) != Size {
		return nil, fmt.Errorf("%w: malformed key", ErrInvalid)
	}
	var k Key
	copy(k.raw[:], raw)
	return &k, nil
}

// FromBytes returns the key of raw (Size bytes), as Bytes gives it.
func FromBytes(raw []byte) (*Key, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("unlock key: %d bytes, want %d", len(raw), Size)
	}
	var k Key
	copy(k.raw[:], raw)
	return &k, nil
}

// String is the key's text, what the operator keeps.
func (k *Key) String() string {
	return Prefix + base64.RawStdEncoding.EncodeToString(k.raw[:])
}

// Bytes returns a copy of the key's bytes.
func (k *Key) Bytes() []byte { return bytes.Clone(k.raw[:]) }

// ID names the key without revealing it: Raft records the current key's
// ID, never the key, and a locked file records the ID of the key that
// seals it. (A hash of 256 random bits gives nothing of them away.)
func (k *Key) ID() string {
	h := sha256.New()
	h.Write([]byte("shoal unlock key id\x00"))
	h.Write(k.raw[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// magic starts a locked key file; a plain one is the Size raw bytes of
// the secrets key, so the two never look alike.
const magic = "shoal-locked-key-v1\n"

// idLen is the length of an ID in a locked file (hex).
const idLen = 32

// sealContext binds a locked file's content to its purpose and key.
func sealContext(id string) string { return "unlock/secret.key/" + id }

// Lock returns the locked form of the secrets key raw: the magic, the
// unlock key's ID, then raw sealed with the unlock key (AES-256-GCM).
func Lock(k *Key, raw []byte) ([]byte, error) {
	if len(raw) != secretkey.Size {
		return nil, fmt.Errorf("lock secret key: %d bytes, want %d", len(raw), secretkey.Size)
	}
	aead, err := secretkey.New(k.raw[:])
	if err != nil {
		return nil, err
	}
	id := k.ID()
	sealed, err := aead.Seal(raw, sealContext(id))
	if err != nil {
		return nil, fmt.Errorf("lock secret key: %w", err)
	}
	out := make([]byte, 0, len(magic)+idLen+len(sealed))
	out = append(append(append(out, magic...), id...), sealed...)
	return out, nil
}

// Locked says whether file is a locked key file, and the ID of the
// unlock key that seals it. A file that is neither plain nor locked is
// an error (damage).
func Locked(file []byte) (locked bool, id string, err error) {
	if len(file) == secretkey.Size && !bytes.HasPrefix(file, []byte(magic)) {
		return false, "", nil
	}
	if !bytes.HasPrefix(file, []byte(magic)) || len(file) < len(magic)+idLen {
		return false, "", fmt.Errorf("holds %d bytes, neither a key (%d bytes) nor a locked key", len(file), secretkey.Size)
	}
	id = string(file[len(magic) : len(magic)+idLen])
	if _, err := hex.DecodeString(id); err != nil {
		return false, "", errors.New("holds a locked key with a malformed key ID")
	}
	return true, id, nil
}

// Unlock opens a locked key file with k and returns the secrets key. A
// key that is not the one that locked it is ErrInvalid.
func Unlock(k *Key, file []byte) ([]byte, error) {
	locked, id, err := Locked(file)
	if err != nil {
		return nil, err
	}
	if !locked {
		return nil, errors.New("the secret key is not locked")
	}
	if id != k.ID() {
		return nil, ErrInvalid
	}
	aead, err := secretkey.New(k.raw[:])
	if err != nil {
		return nil, err
	}
	raw, err := aead.Open(file[len(magic)+idLen:], sealContext(id))
	if err != nil || len(raw) != secretkey.Size {
		return nil, errors.New("the locked secret key does not open with the key that sealed it: the file is damaged")
	}
	return raw, nil
}
