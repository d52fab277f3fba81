package ca

import (
	"errors"
	"strings"
	"testing"
)

func TestTokenForm(t *testing.T) {
	r := newRoot(t, "c1")
	jt, err := NewJoinTokens(r)
	if err != nil {
		t.Fatal(err)
	}
	s := jt.Worker.String()
	if !strings.HasPrefix(s, "SHOALTKN-1-"+r.Digest()+"-") || len(s) != tokenFormLen {
		t.Fatalf("token %q", s)
	}
	got, err := ParseToken(" " + s + "\n")
	if err != nil || got != jt.Worker {
		t.Fatalf("ParseToken = %+v, %v", got, err)
	}
	if jt.Worker.Secret == jt.Manager.Secret {
		t.Fatal("worker and manager tokens are the same")
	}
	for _, bad := range []string{
		"",
		"SWMTKN-1-" + s[len(tokenPrefix):],
		s + "x",
		s[:len(s)-1],
		strings.Replace(s, "-", "_", 2),
		strings.ToUpper(s),
		// The join token of before (SHOALTKN-1-<base32 secret>).
		"SHOALTKN-1-" + strings.Repeat("a", 52),
	} {
		if _, err := ParseToken(bad); err == nil || !strings.Contains(err.Error(), "invalid join token") {
			t.Errorf("ParseToken(%q) = %v, want invalid join token", bad, err)
		}
	}
}

func TestAdmit(t *testing.T) {
	r := newRoot(t, "c1")
	other := newRoot(t, "c1")
	jt, _ := NewJoinTokens(r)
	otherJT, _ := NewJoinTokens(other)
	rotated, err := jt.Rotate(r, RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	// The secret of this cluster with another root's digest.
	wrongDigest := Token{Digest: other.Digest(), Secret: jt.Worker.Secret}

	cases := []struct {
		name     string
		tokens   JoinTokens
		tok      string
		want     Role
		rejected bool
	}{
		{"worker", jt, jt.Worker.String(), RoleWorker, false},
		{"manager", jt, jt.Manager.String(), RoleManager, false},
		{"another cluster's token", jt, otherJT.Worker.String(), "", true},
		{"right secret, another CA digest", jt, wrongDigest.String(), "", true},
		{"rotated worker token", rotated, jt.Worker.String(), "", true},
		{"new worker token", rotated, rotated.Worker.String(), RoleWorker, false},
		{"manager token survives a worker rotation", rotated, jt.Manager.String(), RoleManager, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.tokens.Admit(r, c.tok)
			if c.rejected {
				if !errors.Is(err, ErrTokenRejected) {
					t.Fatalf("Admit = %q, %v; want ErrTokenRejected", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Admit = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := jt.Rotate(r, "admin"); err == nil {
		t.Fatal("rotated an unknown role")
	}
	m, _ := jt.Rotate(r, RoleManager)
	if _, err := m.Admit(r, jt.Manager.String()); !errors.Is(err, ErrTokenRejected) {
		t.Fatalf("rotated manager token: %v", err)
	}
}

func TestTokenCheckRoot(t *testing.T) {
	r := newRoot(t, "c1")
	jt, _ := NewJoinTokens(r)
	got, err := jt.Worker.CheckRoot(r.Cert.Raw)
	if err != nil || got.Digest() != r.Digest() {
		t.Fatalf("CheckRoot(own root) = %v", err)
	}
	// A manager of another cluster (or someone in between) shows its own root.
	impostor := newRoot(t, "c1")
	if _, err := jt.Worker.CheckRoot(impostor.Cert.Raw); err == nil || !strings.Contains(err.Error(), "not the one the join token names") {
		t.Fatalf("CheckRoot(impostor) = %v, want a digest mismatch", err)
	}
}
