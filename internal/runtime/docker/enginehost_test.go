package docker

import (
	"testing"

	"github.com/moby/moby/client"
)

// The engine a node talks to, per OS, and that the moby client parses the
// Windows named pipe as its host.
func TestEngineHostPerOS(t *testing.T) {
	for _, c := range []struct{ goos, env, want string }{
		{"linux", "", "unix:///var/run/docker.sock"},
		{"windows", "", "npipe:////./pipe/docker_engine"},
		{"windows", "tcp://10.0.0.5:2376", "tcp://10.0.0.5:2376"},
		{"linux", "unix:///run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock"},
	} {
		if got := engineHost(c.goos, c.env); got != c.want {
			t.Errorf("engineHost(%q, %q) = %q, want %q", c.goos, c.env, got, c.want)
		}
	}
	u, err := client.ParseHostURL(engineHost("windows", ""))
	if err != nil || u.Scheme != "npipe" || u.Host != "//./pipe/docker_engine" {
		t.Fatalf("named pipe host parsed as %+v, %v", u, err)
	}
	// client.New with it fails on Linux ("protocol not available"): the
	// moby client builds its named-pipe transport only on Windows.
}
