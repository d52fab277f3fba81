//go:build !linux && !windows

package agent

// totalMemory is unknown here: shoal nodes run on Linux and Windows.
func totalMemory() int64 { return 0 }
