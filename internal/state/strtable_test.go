package state

import (
	"strings"
	"testing"
	"unsafe"
)

// The table shares equal strings, keeps none over its length bound, and
// never holds more than its bound of entries, whatever it is given.
func TestStringTableSharesWithinItsBounds(t *testing.T) {
	var st stringTable
	a := st.share(strings.Clone("scheduler assigned task to node"))
	b := st.share(strings.Clone("scheduler assigned task to node"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("equal strings not shared")
	}
	long := strings.Repeat("x", maxSharedString+1)
	if st.share(long); len(st.m) != 1 {
		t.Errorf("a string of %d bytes was kept", len(long))
	}
	if got := st.share(""); got != "" {
		t.Errorf("empty string became %q", got)
	}
	for i := range 3 * maxSharedStrings {
		s := strings.Repeat("y", i%50) + string(rune('a'+i%26)) + strings.Repeat("z", i/26%100)
		if got := st.share(s); got != s {
			t.Fatalf("share(%q) = %q", s, got)
		}
		if len(st.m) > maxSharedStrings {
			t.Fatalf("table holds %d entries, bound %d", len(st.m), maxSharedStrings)
		}
	}
}
