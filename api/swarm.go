package api

// Swarm is what a node needs to join the cluster, from GET /v1/swarm.
type Swarm struct {
	JoinTokens JoinTokens `json:"JoinTokens"`
	// AgentAddr is where the manager serves agents of other nodes
	// (`shoal dev --listen-agents`); empty when it does not.
	AgentAddr string `json:"AgentAddr,omitempty"`
}

// JoinTokens are the secrets nodes join with.
type JoinTokens struct {
	// Worker is the token of `shoal agent --token`.
	Worker string `json:"Worker"`
}
