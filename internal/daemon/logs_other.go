//go:build !linux && !windows

package daemon

import (
	"errors"
	"fmt"
)

// watchGrowth fails: following a file as it grows is done with inotify on
// Linux and change notifications on Windows.
func watchGrowth(string) (grower, error) {
	return nil, fmt.Errorf("following a task's output is Linux's and Windows': %w", errors.ErrUnsupported)
}
