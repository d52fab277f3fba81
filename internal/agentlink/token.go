package agentlink

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"strings"
)

// tokenPrefix starts every join token, as SWMTKN-1- starts Swarm's: it
// names the kind of secret and its format version.
const tokenPrefix = "SHOALTKN-1-"

// tokenLen is the length of a join token: the prefix and 32 random bytes
// in base32.
var tokenLen = len(tokenPrefix) + base32.StdEncoding.WithPadding(base32.NoPadding).EncodedLen(32)

// NewToken returns a new random join token.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return tokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// LoadOrCreateToken returns the join token kept in the file at path,
// making one (file mode 0600) the first time.
func LoadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if !strings.HasPrefix(tok, tokenPrefix) || len(tok) != tokenLen {
			return "", fmt.Errorf("join token file %s is corrupt; remove it to make a new token (agents must then join with the new one)", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read join token: %w", err)
	}
	tok := NewToken()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("save join token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("save join token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("save join token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("save join token: %w", err)
	}
	return tok, nil
}

// tokenDigest is what the server keeps of the token: comparing digests
// of equal length in constant time reveals neither the token's bytes nor
// its length.
func tokenDigest(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }

func tokenMatches(want [sha256.Size]byte, got string) bool {
	d := tokenDigest(got)
	return subtle.ConstantTimeCompare(want[:], d[:]) == 1
}
