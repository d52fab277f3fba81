package compose

import (
	"slices"
	"strings"
	"testing"
)

// The key to remove is found among the keys only: a value spelled like it,
// earlier in the same mapping, is not taken for it.
func TestDeleteKeyMatchesKeysNotValues(t *testing.T) {
	docs, err := parseYAML([]byte("services:\n  web:\n    hostname: ports\n    ports: 8080\n"))
	if err != nil {
		t.Fatal(err)
	}
	cut := deleteKey(docs[0], []string{"services", "web", "ports"})
	if want := []string{"services", "web", "ports"}; !slices.Equal(cut, want) {
		t.Fatalf("removed %v, want %v", cut, want)
	}
	out, err := encodeDocs(docs)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "8080") || !strings.Contains(s, "hostname: ports") {
		t.Errorf("after removal:\n%s", s)
	}
}
