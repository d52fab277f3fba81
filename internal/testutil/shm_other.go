//go:build !linux

package testutil

// shmIsTmpfs is false: only Linux has /dev/shm as a tmpfs.
func shmIsTmpfs() bool { return false }

// IsTmpfs is false: tmpfs is Linux's.
func IsTmpfs(string) (bool, error) { return false, nil }
