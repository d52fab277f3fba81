package docker

import (
	goruntime "runtime"
)

// Where each OS's Docker Engine listens by default: a unix socket on
// Linux, a named pipe on Windows (the moby client dials it with go-winio).
const (
	unixEngineHost    = "unix:///var/run/docker.sock"
	windowsEngineHost = "npipe:////./pipe/docker_engine"
)

// engineHost is the engine the runtime talks to on a node of OS goos:
// DOCKER_HOST when set (dockerHost), else the OS's default. It is pure,
// so the Windows choice is tested on Linux.
func engineHost(goos, dockerHost string) string {
	switch {
	case dockerHost != "":
		return dockerHost
	case goos == "windows":
		return windowsEngineHost
	}
	return unixEngineHost
}

// thisEngineHost is engineHost for this machine.
func thisEngineHost(dockerHost string) string { return engineHost(goruntime.GOOS, dockerHost) }
