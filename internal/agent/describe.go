package agent

import (
	"os"
	goruntime "runtime"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
)

// Describe reports this machine: hostname, platform, CPU and memory.
func Describe(runtimes []string, engineLabels map[string]string) api.NodeDescription {
	host, _ := os.Hostname()
	var mem int64
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		mem = int64(si.Totalram) * int64(si.Unit)
	}
	return api.NodeDescription{
		Hostname:     host,
		Platform:     api.Platform{OS: goruntime.GOOS, Architecture: goarch()},
		Resources:    api.Resources{NanoCPUs: int64(goruntime.NumCPU()) * 1e9, MemoryBytes: mem},
		Runtimes:     runtimes,
		EngineLabels: engineLabels,
	}
}

// goarch names the architecture as Docker does (x86_64, aarch64).
func goarch() string {
	switch goruntime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goruntime.GOARCH
}
