//go:build !windows

package winproc

import (
	"errors"
	"os/exec"

	"github.com/shoalproject/shoal/internal/runtime/winjob"
)

// systemJobs fails: job objects are Windows'; tests pass their own Sys.
func systemJobs() (winjob.Sys, func(*exec.Cmd), error) {
	return nil, nil, errors.New("job objects exist on Windows only")
}
