package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden loads the stack files users deploy unchanged and compares the
// result with the reviewed golden JSON (go test -run TestGolden -update
// rewrites it; review the diff).
func TestGolden(t *testing.T) {
	for _, name := range []string{"signup-v2.yml", "signup-v3.yml"} {
		t.Run(name, func(t *testing.T) {
			st, err := Load(context.Background(), Options{
				Files:   []string{filepath.Join("testdata", name)},
				Project: "signup",
			})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".yml")+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", name, golden, got)
			}
			for _, s := range st.Services {
				if err := s.Validate(); err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
			}
		})
	}
}
