package winproc

import (
	"os/exec"

	"github.com/shoalproject/shoal/internal/runtime/winjob"
)

// systemJobs are Windows' job objects.
func systemJobs() (winjob.Sys, func(*exec.Cmd), error) {
	return winjob.System{}, winjob.Suspended, nil
}
