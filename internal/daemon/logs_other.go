//go:build !linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// followFile copies path from offset to w, then fails: following a file
// as it grows is done with inotify, which only Linux has.
func followFile(_ context.Context, _ <-chan struct{}, path string, offset int64, w io.Writer) error {
	if err := copyFrom(path, offset, w); err != nil {
		return err
	}
	return fmt.Errorf("follow %s: following a task's output is Linux only: %w", path, errors.ErrUnsupported)
}
