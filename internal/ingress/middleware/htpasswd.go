package middleware

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// The password hashes of htpasswd files that basicauth accepts, as
// Apache's htpasswd writes them: bcrypt ($2y$, $2a$, $2b$), Apache's MD5
// ($apr1$, and the MD5-crypt it derives from, $1$) and SHA-1 ({SHA}).
// Plain-text and crypt(3) DES entries are refused: anyone who reads the
// labels could log in.

// maxPasswordBytes bounds the passwords checked: MD5-crypt hashes the
// password about 2,000 times, so a password as long as a header may be
// (1 MiB) would cost seconds of CPU per attempt. bcrypt reads 72 bytes.
const maxPasswordBytes = 1024

// maxBcryptCost bounds a bcrypt hash's cost: anyone may try a user's
// password, and each try costs 2^cost rounds (cost 12 is about a quarter
// of a second of one core; htpasswd -B uses 5 unless told otherwise).
const maxBcryptCost = 12

// checkHash reports whether password matches an htpasswd hash; it is
// constant-time in the password for a given hash.
func checkHash(hash, password string) bool {
	if len(password) > maxPasswordBytes {
		return false
	}
	switch {
	case strings.HasPrefix(hash, "$2"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case strings.HasPrefix(hash, "{SHA}"):
		sum := sha1.Sum([]byte(password))
		want := "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(hash), []byte(want)) == 1
	case strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "$1$"):
		magic := hash[:strings.IndexByte(hash[1:], '$')+2]
		salt, _, _ := strings.Cut(hash[len(magic):], "$")
		got := md5Crypt(magic, salt, password)
		return subtle.ConstantTimeCompare([]byte(hash), []byte(got)) == 1
	}
	return false
}

// checkHashFormat tells why hash is not one checkHash reads.
func checkHashFormat(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$2"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return errors.New("malformed bcrypt hash")
		}
		if cost > maxBcryptCost {
			return fmt.Errorf("bcrypt cost %d is more than %d: every login attempt, anyone's, would cost the ingress 2^%d rounds (make one with htpasswd -nbB -C 10 USER PASSWORD)", cost, maxBcryptCost, cost)
		}
	case strings.HasPrefix(hash, "{SHA}"):
		if b, err := base64.StdEncoding.DecodeString(hash[5:]); err != nil || len(b) != sha1.Size {
			return errors.New("malformed {SHA} hash")
		}
	case strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "$1$"):
		magic := hash[:strings.IndexByte(hash[1:], '$')+2]
		salt, sum, ok := strings.Cut(hash[len(magic):], "$")
		if !ok || salt == "" || len(salt) > 8 || len(sum) != 22 {
			return errors.New("malformed MD5 hash")
		}
	default:
		return errors.New("not a bcrypt, $apr1$ (MD5) or {SHA} hash; plain-text passwords are refused (make one with htpasswd -nB USER)")
	}
	return nil
}

// md5Crypt is the MD5-based crypt of FreeBSD, which Apache's apr1 is
// with another magic string: magic+salt+"$"+22 characters of hash.
// (Poul-Henning Kamp's algorithm, as specified by its reference
// implementation; the test vectors come from openssl passwd -1/-apr1.)
func md5Crypt(magic, salt, password string) string {
	if len(salt) > 8 {
		salt = salt[:8]
	}
	pw := []byte(password)
	alt := md5.New()
	alt.Write(pw)
	alt.Write([]byte(salt))
	alt.Write(pw)
	altSum := alt.Sum(nil)

	ctx := md5.New()
	ctx.Write(pw)
	ctx.Write([]byte(magic))
	ctx.Write([]byte(salt))
	for i := len(pw); i > 0; i -= 16 {
		ctx.Write(altSum[:min(i, 16)])
	}
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	sum := ctx.Sum(nil)

	for i := range 1000 {
		c := md5.New()
		if i&1 != 0 {
			c.Write(pw)
		} else {
			c.Write(sum)
		}
		if i%3 != 0 {
			c.Write([]byte(salt))
		}
		if i%7 != 0 {
			c.Write(pw)
		}
		if i&1 != 0 {
			c.Write(sum)
		} else {
			c.Write(pw)
		}
		sum = c.Sum(nil)
	}

	const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 0, len(magic)+len(salt)+1+22)
	out = append(out, magic...)
	out = append(out, salt...)
	out = append(out, '$')
	enc := func(a, b, c byte, n int) {
		v := uint(a)<<16 | uint(b)<<8 | uint(c)
		for ; n > 0; n-- {
			out = append(out, itoa64[v&0x3f])
			v >>= 6
		}
	}
	enc(sum[0], sum[6], sum[12], 4)
	enc(sum[1], sum[7], sum[13], 4)
	enc(sum[2], sum[8], sum[14], 4)
	enc(sum[3], sum[9], sum[15], 4)
	enc(sum[4], sum[10], sum[5], 4)
	enc(0, 0, sum[11], 2)
	return string(out)
}
