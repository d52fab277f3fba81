package testutil

import "golang.org/x/sys/unix"

// shmIsTmpfs reports whether /dev/shm is a tmpfs.
func shmIsTmpfs() bool {
	tmpfs, err := IsTmpfs("/dev/shm")
	return err == nil && tmpfs
}

// IsTmpfs reports whether path is on a tmpfs.
func IsTmpfs(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return st.Type == unix.TMPFS_MAGIC, nil
}
