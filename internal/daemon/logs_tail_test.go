package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTailOffsets checks where --tail N starts reading a process task's
// stdout and stderr, read one after the other.
func TestTailOffsets(t *testing.T) {
	for _, tc := range []struct {
		name           string
		stdout, stderr string // "-" for a missing file
		n              int
		want           string // what is read from the offsets
	}{
		{name: "all", stdout: "a\nb\n", stderr: "e\n", n: -1, want: "a\nb\ne\n"},
		{name: "none", stdout: "a\nb\n", stderr: "e\n", n: 0, want: ""},
		{name: "from stderr only", stdout: "a\nb\n", stderr: "e\nf\n", n: 1, want: "f\n"},
		{name: "across files", stdout: "a\nb\nc\n", stderr: "e\n", n: 3, want: "b\nc\ne\n"},
		{name: "more than there is", stdout: "a\n", stderr: "e", n: 10, want: "a\ne"},
		{name: "no final newline", stdout: "a\nb", stderr: "", n: 1, want: "b"},
		{name: "empty line counts", stdout: "\nx\n", stderr: "-", n: 2, want: "\nx\n"},
		{name: "missing stdout", stdout: "-", stderr: "e\nf\n", n: 5, want: "e\nf\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, body := range []string{tc.stdout, tc.stderr} {
				p := filepath.Join(dir, []string{"stdout", "stderr"}[i])
				paths = append(paths, p)
				if body != "-" {
					if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			offsets, err := tailOffsets(paths, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for i, p := range paths {
				data, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				got += string(data[offsets[i]:])
			}
			if got != tc.want {
				t.Errorf("tail %d read %q, want %q (offsets %v)", tc.n, got, tc.want, offsets)
			}
		})
	}
}
