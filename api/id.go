package api

import "crypto/rand"

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// idDraw bounds the random bytes NewID uses: the largest multiple of the
// alphabet's length a byte holds, so every letter is as likely.
const idDraw = 256 / len(idAlphabet) * len(idAlphabet)

// IDLength is the length of generated IDs; lists show the first 12 chars.
const IDLength = 25

// NewID returns a random 25-character lower-case alphanumeric ID, as Swarm's.
func NewID() string {
	// Random bytes read in one call, each of the alphabet's 36 letters
	// drawn from a byte below idDraw so that all are equally likely:
	// a rand.Int per character cost the orchestrator 1.5% of a deploy's
	// CPU (issue 15).
	var buf [2 * IDLength]byte
	b := make([]byte, 0, IDLength)
	for len(b) < IDLength {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		for _, c := range buf {
			if int(c) < idDraw && len(b) < IDLength {
				b = append(b, idAlphabet[c%36])
			}
		}
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
