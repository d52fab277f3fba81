package api

import (
	"crypto/rand"
	"math/big"
)

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// IDLength is the length of generated IDs; lists show the first 12 chars.
const IDLength = 25

// NewID returns a random 25-character lower-case alphanumeric ID, as Swarm's.
func NewID() string {
	b := make([]byte, IDLength)
	max := big.NewInt(int64(len(idAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		b[i] = idAlphabet[n.Int64()]
	}
	// The first character is a letter so an ID never parses as a number.
	if b[0] < 'a' {
		b[0] = 'a' + b[0]%26
	}
	return string(b)
}

// ShortID returns the first 12 characters of an ID, as lists show it.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
