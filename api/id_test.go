package api_test

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestNewID(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		id := api.NewID()
		if len(id) != 25 || api.IDLength != 25 {
			t.Fatalf("NewID() = %q: length %d, want 25", id, len(id))
		}
		for _, c := range id {
			if !strings.ContainsRune("0123456789abcdefghijklmnopqrstuvwxyz", c) {
				t.Fatalf("NewID() = %q: %q is not lower-case alphanumeric", id, c)
			}
		}
		if id[0] < 'a' || id[0] > 'z' {
			t.Fatalf("NewID() = %q: does not start with a letter", id)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice in %d calls", id, i+1)
		}
		seen[id] = true
	}
}

func TestShortID(t *testing.T) {
	if got := api.ShortID("abcdefghijklmnopqrstuvwxy"); got != "abcdefghijkl" {
		t.Errorf("ShortID = %q", got)
	}
	if got := api.ShortID("abc"); got != "abc" {
		t.Errorf("ShortID(short) = %q", got)
	}
}
