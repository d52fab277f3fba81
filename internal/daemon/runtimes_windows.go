package daemon

import "github.com/shoalproject/shoal/internal/runtime/winproc"

// DefaultSecretsDir is where the docker runtime would write the configs
// and secrets of its tasks. Windows has no tmpfs, so it refuses secrets
// there (configs are written); process tasks get neither (winproc).
const DefaultSecretsDir = `C:\ProgramData\shoal-files`

// processRuntime runs process tasks: each tree in a job object, ended
// with the agent.
type processRuntime = winproc.Runtime

func openProcess(root, _, addr, _ string) (*processRuntime, error) {
	return winproc.Open(winproc.Options{Root: root, NodeAddr: addr})
}
