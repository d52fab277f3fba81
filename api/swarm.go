package api

import "time"

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
	// Spec is what an operator may change (POST /v1/swarm/update).
	Spec SwarmSpec `json:"Spec"`
	// TLSInfo is the cluster CA nodes trust, as Docker's.
	TLSInfo TLSInfo `json:"TLSInfo"`
	// RootRotationInProgress says a `swarm ca --rotate` is under way, as
	// Docker's; CARotation is how far it is.
	RootRotationInProgress bool        `json:"RootRotationInProgress,omitempty"`
	CARotation             *CARotation `json:"CARotation,omitempty"`
}

// CARotation is a CA rotation's progress: the nodes that have a
// certificate of the new root, of all (the managers move last, when the
// rotation ends).
type CARotation struct {
	Rotated int `json:"Rotated"`
	Total   int `json:"Total"`
}

// TLSInfo is the cluster's root CA, as Docker's Swarm TLSInfo.
type TLSInfo struct {
	// TrustRoot is the root CA certificate in PEM.
	TrustRoot string `json:"TrustRoot,omitempty"`
}

// SwarmSpec is the cluster's settings, as Docker's Swarm.Spec; POST
// /v1/swarm/update changes the fields given, leaves zero ones alone.
type SwarmSpec struct {
	CAConfig CAConfig `json:"CAConfig"`
}

// CAConfig is the cluster CA's settings.
type CAConfig struct {
	// NodeCertExpiry is the life of the node certificates the managers
	// issue (nanoseconds in JSON, as Docker's).
	NodeCertExpiry time.Duration `json:"NodeCertExpiry,omitempty"`
}

// JoinTokens are the secrets nodes join with.
type JoinTokens struct {
	// Worker is the token of `shoal agent --token`.
	Worker string `json:"Worker"`
	// Manager is the token of `shoal manager --join`.
	Manager string `json:"Manager,omitempty"`
}
