package api

// Swarm is what a node needs to join the cluster, from GET /v1/swarm.
type Swarm struct {
	JoinTokens JoinTokens `json:"JoinTokens"`
	// AgentAddr is where the manager serves agents of other nodes
	// (`shoal dev --listen-agents`); empty when it does not.
	AgentAddr string `json:"AgentAddr,omitempty"`
	// DefaultAddrPool and SubnetSize are the cluster's address pool,
	// set when it was created.
	DefaultAddrPool []string `json:"DefaultAddrPool,omitempty"`
	SubnetSize      uint32   `json:"SubnetSize,omitempty"`
	// Autolock says the managers' secrets keys are locked by an unlock
	// key (`swarm update --autolock`).
	Autolock bool `json:"Autolock,omitempty"`
}

// JoinTokens are the secrets nodes join with.
type JoinTokens struct {
	// Worker is the token of `shoal agent --token`.
	Worker string `json:"Worker"`
	// Manager is the token of `shoal manager --join`.
	Manager string `json:"Manager,omitempty"`
}

// SwarmUpdate is the body of POST /v1/swarm/update (`swarm update`).
type SwarmUpdate struct {
	// Autolock locks every manager's secrets key with an unlock key
	// (Swarm's EncryptionConfig.AutoLockManagers).
	Autolock bool `json:"Autolock"`
}

// UnlockKey is the answer of GET /v1/swarm/unlockkey, of its rotation
// and of a swarm update that turns autolock on; empty when it is off.
type UnlockKey struct {
	UnlockKey string `json:"UnlockKey"`
}

// UnlockRequest is the body of POST /v1/swarm/unlock, which a locked
// manager answers.
type UnlockRequest struct {
	UnlockKey string `json:"UnlockKey"`
}

// LockedMessage is every answer of a locked manager's API but the
// unlock's (503).
const LockedMessage = "This node is locked: run `shoal swarm unlock`"
