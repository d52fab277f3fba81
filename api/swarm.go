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
	// Autolock says the managers' secrets keys are locked by an unlock
	// key (`swarm update --autolock`).
	Autolock bool `json:"Autolock,omitempty"`
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

// SwarmSpec is the cluster's settings, as Docker's Swarm.Spec (GET
// /v1/swarm shows them; POST /v1/swarm/update changes them).
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

// SwarmUpdate is the body of POST /v1/swarm/update (`swarm update`):
// what it leaves out (nil, zero) stays as it is.
type SwarmUpdate struct {
	// Autolock, when given, locks every manager's secrets key with an
	// unlock key, or stores it unencrypted again (Swarm's
	// EncryptionConfig.AutoLockManagers).
	Autolock *bool `json:"Autolock,omitempty"`
	// CAConfig is as Docker's Spec.CAConfig: a NodeCertExpiry not zero
	// (at least 1h) is the life of the certificates the managers issue
	// from then on.
	CAConfig CAConfig `json:"CAConfig"`
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
