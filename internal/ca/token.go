package ca

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// A join token is Swarm's form: SHOALTKN-1-<digest>-<secret>. The digest
// is the SHA-256 of the cluster root certificate in base 36 (50
// characters); a joining node checks the root a manager shows it against
// it before it sends the secret, so it cannot be fooled into joining (and
// handing its token to) another cluster. The secret, 128 random bits in
// base 36 (25 characters), is what admits the node, and which of the two
// cluster secrets it is decides the node's role.
const (
	tokenPrefix  = "SHOALTKN-1-"
	digestLen    = 50
	secretLen    = 25
	secretBits   = 128
	tokenBase    = 36
	tokenFormLen = len(tokenPrefix) + digestLen + 1 + secretLen
)

// ErrTokenRejected is returned for a well-formed token that does not
// admit anyone: an old (rotated) secret, or another cluster's.
var ErrTokenRejected = errors.New("join token rejected")

// Digest is the root certificate's SHA-256 in base 36, as join tokens
// carry it.
func (r *RootCA) Digest() string { return digestOf(r.Cert.Raw) }

func digestOf(der []byte) string {
	sum := sha256.Sum256(der)
	return pad36(new(big.Int).SetBytes(sum[:]), digestLen)
}

func pad36(n *big.Int, width int) string {
	s := n.Text(tokenBase)
	return strings.Repeat("0", width-len(s)) + s
}

// Token is a parsed join token.
type Token struct {
	// Digest names the cluster root (see RootCA.Digest).
	Digest string
	// Secret admits the node.
	Secret string
}

// String is the token in its written form.
func (t Token) String() string { return tokenPrefix + t.Digest + "-" + t.Secret }

// ParseToken reads a written join token.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Token, error) {
		return Token{}, fmt.Errorf("invalid join token (%s): want %s<%d-character CA digest>-<%d-character secret>; get one with 'shoal swarm join-token worker' on a manager",
			why, tokenPrefix, digestLen, secretLen)
	}
	if !strings.HasPrefix(s, tokenPrefix) {
		return bad("wrong prefix")
	}
	if len(s) != tokenFormLen {
		return bad(fmt.Sprintf("%d characters, want %d", len(s), tokenFormLen))
	}
	rest := s[len(tokenPrefix):]
	d, sec, ok := strings.Cut(rest, "-")
	if !ok || len(d) != digestLen || len(sec) != secretLen || !isBase36(d) || !isBase36(sec) {
		return bad("malformed digest or secret")
	}
	return Token{Digest: d, Secret: sec}, nil
}

func isBase36(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func newSecret() (string, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), secretBits))
	if err != nil {
		return "", fmt.Errorf("new join token: %w", err)
	}
	return pad36(n, secretLen), nil
}

// CheckRoot is what a joining node does before it sends anything secret:
// it checks that the root certificate it was shown (rootDER, the raw
// certificate) is the one tok names. It returns the root on success.
func (t Token) CheckRoot(rootDER []byte) (*RootCA, error) {
	got := digestOf(rootDER)
	if subtle.ConstantTimeCompare([]byte(got), []byte(t.Digest)) != 1 {
		return nil, fmt.Errorf("the manager's cluster CA (digest %s) is not the one the join token names (%s): wrong manager address, another cluster, or someone in between; nothing was sent",
			got, t.Digest)
	}
	return ParseRootCert(encodePEM("CERTIFICATE", rootDER))
}

// JoinTokens are a cluster's two join tokens. A manager keeps them (in
// Raft, with the root) and shows them to its operator.
type JoinTokens struct {
	Worker  Token
	Manager Token
}

// NewJoinTokens makes both tokens for root.
func NewJoinTokens(root *RootCA) (JoinTokens, error) {
	var jt JoinTokens
	var err error
	if jt.Worker, err = newToken(root); err != nil {
		return JoinTokens{}, err
	}
	if jt.Manager, err = newToken(root); err != nil {
		return JoinTokens{}, err
	}
	return jt, nil
}

func newToken(root *RootCA) (Token, error) {
	sec, err := newSecret()
	if err != nil {
		return Token{}, err
	}
	return Token{Digest: root.Digest(), Secret: sec}, nil
}

// Rotate returns jt with a new secret for role: the old token of that
// role no longer admits anyone; the other role's is unchanged.
func (jt JoinTokens) Rotate(root *RootCA, role Role) (JoinTokens, error) {
	t, err := newToken(root)
	if err != nil {
		return JoinTokens{}, err
	}
	switch role {
	case RoleWorker:
		jt.Worker = t
	case RoleManager:
		jt.Manager = t
	default:
		return JoinTokens{}, fmt.Errorf("rotate join token: invalid role %q: want %s or %s", role, RoleWorker, RoleManager)
	}
	return jt, nil
}

// Admit returns the role the written token tok admits a node as, for the
// cluster whose root is root. Both secrets are always compared, in
// constant time, so timing tells nothing about which one came close.
func (jt JoinTokens) Admit(root *RootCA, tok string) (Role, error) {
	t, err := ParseToken(tok)
	if err != nil {
		return "", err
	}
	if t.Digest != root.Digest() {
		return "", fmt.Errorf("%w: it names another cluster CA (rotated, or another cluster's token)", ErrTokenRejected)
	}
	w := subtle.ConstantTimeCompare([]byte(t.Secret), []byte(jt.Worker.Secret))
	m := subtle.ConstantTimeCompare([]byte(t.Secret), []byte(jt.Manager.Secret))
	switch {
	case m == 1:
		return RoleManager, nil
	case w == 1:
		return RoleWorker, nil
	}
	return "", fmt.Errorf("%w: not this cluster's current worker or manager token (rotated?); get the current one with 'shoal swarm join-token worker' on a manager", ErrTokenRejected)
}
