package state

import (
	"time"

	"github.com/shoalproject/shoal/api"
)

// OpKind names one kind of write.
type OpKind string

// The writes the state machine knows. Each checks its precondition when
// applied, so concurrent writers never overwrite each other's changes.
const (
	// OpCreateService adds Service; its name must be free.
	OpCreateService OpKind = "create_service"
	// OpUpdateService replaces Service if its stored Version equals
	// ExpectVersion (when ExpectVersion is not zero).
	OpUpdateService OpKind = "update_service"
	// OpDeleteService removes the service ID.
	OpDeleteService OpKind = "delete_service"
	// OpCreateTask adds Task.
	OpCreateTask OpKind = "create_task"
	// OpDeleteTask removes the task ID.
	OpDeleteTask OpKind = "delete_task"
	// OpAssignTask places the pending task ID on NodeID.
	OpAssignTask OpKind = "assign_task"
	// OpPendingReason records why the pending task ID stays unplaced.
	OpPendingReason OpKind = "pending_reason"
	// OpSetDesiredState raises the task ID's desired state to Desired.
	OpSetDesiredState OpKind = "set_desired_state"
	// OpTaskStatus applies an agent's Report; states only move forward.
	OpTaskStatus OpKind = "task_status"
	// OpUpsertNode adds or replaces Node.
	OpUpsertNode OpKind = "upsert_node"
	// OpNodeStatus sets the node ID's Status.
	OpNodeStatus OpKind = "node_status"
	// OpDeleteNode removes the node ID.
	OpDeleteNode OpKind = "delete_node"
	// OpRemoveNode removes the node ID for good (an operator's node rm):
	// the ID is remembered, and OpRegisterNode refuses it from then on
	// (ErrRemoved), on every manager and after any restart, since the
	// node's certificate stays valid until it expires.
	OpRemoveNode OpKind = "remove_node"
	// OpRegisterNode records what Node says of itself (description and
	// status): a node that exists keeps its Spec, which only an operator
	// sets (OpNodeSpec); a new one gets Node's. A status with a Session
	// other than the node's marks the endpoints of its live tasks
	// unconfirmed (a new agent has not read them yet); OpTaskStatus with
	// endpoints confirms them.
	OpRegisterNode OpKind = "register_node"
	// OpNodeSpec sets the node ID's Spec (availability, labels): the
	// operator's write, never the node's.
	OpNodeSpec OpKind = "node_spec"

	// OpCreateConfig adds Config; its name and ID must be free.
	OpCreateConfig OpKind = "create_config"
	// OpRemoveConfig removes the config ID, unless a service names it
	// (ErrInUse).
	OpRemoveConfig OpKind = "remove_config"
	// OpUpdateConfigLabels sets the labels of the config ID to Labels, if
	// its Version equals ExpectVersion (when not zero). Nothing else of a
	// config ever changes.
	OpUpdateConfigLabels OpKind = "update_config_labels"
	// OpCreateSecret adds Secret, whose data the proposer has encrypted.
	OpCreateSecret OpKind = "create_secret"
	// OpRemoveSecret removes the secret ID, unless a service names it.
	OpRemoveSecret OpKind = "remove_secret"
	// OpUpdateSecretLabels is OpUpdateConfigLabels for secrets.
	OpUpdateSecretLabels OpKind = "update_secret_labels"
	// OpCreateNetwork adds Network; its name and ID must be free.
	OpCreateNetwork OpKind = "create_network"
	// OpRemoveNetwork removes the network ID, unless a service attaches
	// to it.
	OpRemoveNetwork OpKind = "remove_network"
	// OpCheckRefs changes nothing: it fails (ErrMissingRef) unless every
	// config, secret and network Service's spec names exists. Put before a
	// service write in an atomic command, it makes the check and the write
	// one step, so a removal cannot slip in between.
	OpCheckRefs OpKind = "check_refs"
	// OpInitCluster writes the cluster's address pool (Pool) unless it has
	// one; an explicit, different pool is refused (ErrPoolFixed).
	OpInitCluster OpKind = "init_cluster"
	// OpSetJoinTokens replaces the cluster's join tokens with Tokens,
	// sealed by the proposer (a rotation). With CheckTokens, only if the
	// stored ones are still ExpectTokens (none: empty), those the
	// rotation was made from; else ErrVersionConflict.
	OpSetJoinTokens OpKind = "set_join_tokens"
	// OpSetCertExpiry sets the life of the node certificates the
	// managers issue to CertExpiry (`swarm update --cert-expiry`).
	OpSetCertExpiry OpKind = "set_cert_expiry"
	// OpSetRootCA writes a step of a CA rotation (CA), if the stored CA
	// is still at the step ExpectCA names; with Tokens, the join tokens
	// too.
	OpSetRootCA OpKind = "set_root_ca"
	// OpSetAutolock sets the cluster's autolock (Lock): on with the ID
	// of the current unlock key, or off.
	OpSetAutolock OpKind = "set_autolock"
)

// Op is one write inside a Command.
type Op struct {
	Kind          OpKind          `json:"k"`
	ID            string          `json:"id,omitempty"`
	ExpectVersion uint64          `json:"ev,omitempty"`
	Service       *api.Service    `json:"s,omitempty"`
	Task          *api.Task       `json:"t,omitempty"`
	Node          *api.Node       `json:"n,omitempty"`
	NodeID        string          `json:"node,omitempty"`
	Desired       api.TaskState   `json:"d,omitempty"`
	Message       string          `json:"m,omitempty"`
	Report        *api.TaskReport `json:"r,omitempty"`
	NodeStatus    *api.NodeStatus `json:"ns,omitempty"`
	NodeSpec      *api.NodeSpec   `json:"nspec,omitempty"`
	Config        *api.Config     `json:"cfg,omitempty"`
	// Secret's data is encrypted: the log never holds a secret in clear.
	Secret  *api.Secret       `json:"sec,omitempty"`
	Network *api.Network      `json:"net,omitempty"`
	Labels  map[string]string `json:"l,omitempty"`
	Pool    *PoolInit         `json:"pool,omitempty"`
	// Tokens are the sealed join tokens of OpSetJoinTokens.
	Tokens []byte `json:"tok,omitempty"`
	// CertExpiry is the certificate life of OpSetCertExpiry.
	CertExpiry time.Duration `json:"cexp,omitempty"`
	// CA and ExpectCA (its Cert and PrevCert; nil: none stored) are
	// OpSetRootCA's.
	CA       *RootCA `json:"ca,omitempty"`
	ExpectCA *RootCA `json:"eca,omitempty"`
	// Lock is the setting of OpSetAutolock.
	Lock *AutolockSetting `json:"lock,omitempty"`
	// CheckTokens makes OpSetJoinTokens a compare-and-set on
	// ExpectTokens. (Sealing draws a random nonce, so equal sealed bytes
	// are the same write.)
	CheckTokens  bool   `json:"ctok,omitempty"`
	ExpectTokens []byte `json:"etok,omitempty"`
}

// Command is one Raft log entry: a batch of ops applied together.
type Command struct {
	// Time is the proposer's clock, used for UpdatedAt and status times so
	// every replica applies the same values.
	Time time.Time `json:"time"`
	// Atomic commands apply all ops or none; otherwise an op whose
	// precondition fails is skipped and the rest apply.
	Atomic bool `json:"atomic,omitempty"`
	Ops    []Op `json:"ops"`

	// encoded, when set, is the command's log entry, json.Marshal's
	// bytes for it, made by ProposeBatches as it encoded the ops to bound
	// the command (each op is then encoded once, not twice). Nothing
	// changes a command after it was made.
	encoded []byte
}

// Result is what applying a Command returned.
type Result struct {
	// Index is the Raft index the command was applied at.
	Index uint64
	// Err is set when an atomic command was refused.
	Err error
	// OpErrs holds, for a non-atomic command, the error of each skipped op
	// (nil for those applied).
	OpErrs []error
}
