package daemon

import "github.com/shoalproject/shoal/internal/runtime/process"

// DefaultSecretsDir is where a node's runtimes write the configs and
// secrets of its tasks, in a folder per node: a tmpfs.
const DefaultSecretsDir = process.DefaultSecretsRoot

// processRuntime runs process tasks: as processes in their own groups,
// adopted after a restart.
type processRuntime = process.Runtime

func openProcess(root, nodeID, addr, secretsDir string) (*processRuntime, error) {
	return process.Open(process.Options{Root: root, NodeAddr: addr, SecretsRoot: secretsDir, NodeID: nodeID})
}
