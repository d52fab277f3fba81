package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCompletionKnowsTheCluster asks cobra's completion (what the shell
// scripts of `shoal completion` call) for object names and flag values:
// names come from the cluster, flag values are the flag's words.
func TestCompletionKnowsTheCluster(t *testing.T) {
	cleanupServices(t)
	cleanupObjects(t, "config", "cmp-cfg")
	cleanupObjects(t, "secret", "cmp-sec")
	cleanupNetworks(t, "cmp-net")
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustShoal(t, "service", "create", "-d", "--name", "cmp-web", "--replicas", "0", "--", "sleep", "300")
	mustShoal(t, "service", "create", "-d", "--name", "cmp-db", "--replicas", "0", "-l", "com.docker.stack.namespace=cmpstack", "--", "sleep", "300")
	mustShoal(t, "config", "create", "cmp-cfg", data)
	mustShoal(t, "secret", "create", "cmp-sec", data)
	mustShoal(t, "network", "create", "cmp-net")

	for _, tc := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"service", "inspect", ""}, []string{"cmp-db", "cmp-web"}, nil},
		{[]string{"service", "rm", "cmp-web", ""}, []string{"cmp-db"}, []string{"cmp-web"}},
		{[]string{"service", "logs", ""}, []string{"cmp-web"}, nil},
		{[]string{"service", "scale", ""}, []string{"cmp-web="}, nil},
		{[]string{"stack", "ps", ""}, []string{"cmpstack"}, []string{"cmp-web"}},
		{[]string{"node", "inspect", ""}, []string{"self"}, nil},
		{[]string{"network", "rm", ""}, []string{"cmp-net"}, nil},
		{[]string{"config", "inspect", ""}, []string{"cmp-cfg"}, []string{"cmp-sec"}},
		{[]string{"secret", "rm", ""}, []string{"cmp-sec"}, []string{"cmp-cfg"}},
		{[]string{"config", "create", ""}, nil, []string{"cmp-cfg"}},
		{[]string{"service", "update", "--update-order", ""}, []string{"start-first", "stop-first"}, nil},
		{[]string{"service", "update", "--update-failure-action", ""}, []string{"pause", "continue", "rollback"}, nil},
		{[]string{"service", "create", "--network", ""}, []string{"cmp-net"}, nil},
		{[]string{"node", "update", "--availability", ""}, []string{"active", "pause", "drain"}, nil},
	} {
		r := shoal(t, append([]string{"__complete"}, tc.args...)...)
		if r.code != 0 {
			t.Errorf("complete %q: %s", tc.args, r)
			continue
		}
		// cobra prints one completion a line, then ":DIRECTIVE".
		var got []string
		for _, l := range lines(r.stdout) {
			if !strings.HasPrefix(l, ":") {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("complete %q = %q, want %q among them", tc.args, got, w)
			}
		}
		for _, n := range tc.not {
			if slices.Contains(got, n) {
				t.Errorf("complete %q = %q, want no %q", tc.args, got, n)
			}
		}
	}
}
