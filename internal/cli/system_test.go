package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVersionAndInfo checks `version` and `info` in docker's layout, their
// --format over docker's field names, and version without a cluster:
// the client's part, then exit 1, as docker's.
func TestVersionAndInfo(t *testing.T) {
	r := mustShoal(t, "version")
	for _, want := range []string{"Client:\n Version:    " + version + "\n", " OS/Arch:", "\nServer:\n Version:", " Node ID: " + testDev.NodeID()} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := mustShoal(t, "version", "--format", "{{.Client.Version}} {{.Server.NodeID}}").stdout; got != version+" "+testDev.NodeID()+"\n" {
		t.Errorf("version --format = %q", got)
	}
	var v struct{ Client, Server map[string]string }
	if err := json.Unmarshal([]byte(mustShoal(t, "version", "--format", "json").stdout), &v); err != nil || v.Client["Version"] != version || v.Server["Version"] == "" {
		t.Errorf("version --format json: %v %+v", err, v)
	}
	r = shoalRaw(t, "--host", "unix:///nonexistent/shoal.sock", "version")
	if r.code != ExitFailure || !strings.HasPrefix(r.stdout, "Client:\n Version:") || strings.Contains(r.stdout, "Server:") || r.stderr == "" {
		t.Errorf("version without a cluster: %s", r)
	}

	cleanupServices(t)
	mustShoal(t, "service", "create", "-d", "--name", "info-web", "--replicas", "2", "--", "sleep", "300")
	waitRunning(t, "info-web", 2)
	r = mustShoal(t, "info")
	for _, want := range []string{"Server:\n", " Swarm: active\n", "  NodeID: " + testDev.NodeID() + "\n", "  Is Manager: true\n", "  Managers: 1\n", "  Nodes: 1\n", " Services: 1\n", " Tasks: 2\n", "  Running: 2\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := mustShoal(t, "system", "info", "--format", "{{.Swarm.NodeID}} {{.Swarm.ControlAvailable}} {{.Services}} {{.TasksRunning}}").stdout; got != testDev.NodeID()+" true 1 2\n" {
		t.Errorf("system info --format = %q", got)
	}
}
