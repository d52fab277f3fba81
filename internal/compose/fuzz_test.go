package compose

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load as one compose file on stdin: it
// must never panic, and it returns either a stack whose services are all
// valid or an error, never both.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"signup-v2.yml", "signup-v3.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"---\n",
		"services:\n",
		"services: []\n",
		"services:\n  web:\n",
		"services:\n  web:\n    image: x\n   bad: [\n",
		"services:\n\tweb:\n",
		"services:\n  web:\n    image: x\n    deploy: {replicas: -1, placement: {constraints: ['node.role = x']}}\n",
		"services:\n  web:\n    image: x\n    ports: ['80:80', '80:80/udp', 'abc', {target: 0}]\n",
		"services:\n  web:\n    image: ${X:?x}\n    healthcheck: {interval: 1y}\n",
		"a: &a [*a]\n",
		"a: &a {b: 1}\nservices: {web: {<<: *a, image: x}}\n",
		"services:\n  web:\n    image: x\n    volumes: ['::', 'a:b:c:d']\n    networks: {n: {aliases: [1]}}\nnetworks: {n: null}\n",
		"services:\n  web: !reset\n",
		"services:\n  web:\n    image: x\n    secrets: [s]\nsecrets:\n  s: {environment: NOPE}\n",
		"\xef\xbb\xbfservices:\n  web:\n    image: x\n",
		"{\"services\": {\"web\": {\"image\": \"x\", \"command\": [\"a\", 1]}}}",
		"version: 3\nservices:\n  1: {image: x}\n",
		"!reset",
		"--- !reset\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	// An input that makes the loader blow up is caught by the fuzzing
	// engine's own hang detection (and go test's -timeout for the seed
	// corpus), not by timing each call here: no test fails on a clock.
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Load(context.Background(), Options{
			Files:      []string{"-"},
			Stdin:      bytes.NewReader(data),
			Project:    "fuzz",
			WorkingDir: dir,
			Env:        map[string]string{"X": "1"},
		})
		var lp *loaderPanic
		if errors.As(err, &lp) {
			t.Fatalf("the loader panicked: %v", err)
		}
		if err != nil {
			if st != nil {
				t.Fatalf("a stack and an error: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		if st == nil {
			t.Fatal("no stack and no error")
		}
		for _, s := range st.Services {
			if err := s.Validate(); err != nil {
				t.Fatalf("%s does not validate: %v", s.Name, err)
			}
		}
	})
}
