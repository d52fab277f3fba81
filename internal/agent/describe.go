package agent

import (
	"os"
	goruntime "runtime"

	"github.com/shoalproject/shoal/api"
)

// Describe reports this machine: hostname, platform, CPU and memory, and
// the features a node of OS goos cannot offer. goos is the platform the
// agent runs (Config.OS): this machine's, or the one a test stands in for.
func Describe(goos string, runtimes []string, engineLabels map[string]string) api.NodeDescription {
	host, _ := os.Hostname()
	return api.NodeDescription{
		Hostname:     host,
		Platform:     api.Platform{OS: goos, Architecture: goarch()},
		Resources:    api.Resources{NanoCPUs: int64(goruntime.NumCPU()) * 1e9, MemoryBytes: totalMemory()},
		Runtimes:     runtimes,
		EngineLabels: engineLabels,
		Unsupported:  unsupportedOn(goos),
	}
}

// unsupportedOn names what a node of OS goos cannot offer: shoal networks
// need network namespaces, which only Linux has.
func unsupportedOn(goos string) []string {
	if goos == "linux" {
		return nil
	}
	return []string{api.FeatureNetworks}
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
