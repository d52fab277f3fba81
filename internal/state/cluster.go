package state

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/shoalproject/shoal/internal/allocator"
)

// ClusterConfig is what the cluster was created with: its address pool.
// The first manager's first start writes it (OpInitCluster), and nothing
// changes it afterwards but the join tokens (OpSetJoinTokens) and the
// certificate life (OpSetCertExpiry), the CA of a rotation
// (OpSetRootCA) and the autolock setting (OpSetAutolock).
type ClusterConfig struct {
	// ID is always clusterID: the table holds one row.
	ID              string   `json:"id"`
	DefaultAddrPool []string `json:"pool"`
	SubnetSize      uint32   `json:"size"`
	// JoinTokens are the cluster's join tokens, sealed with the cluster
	// secrets key (every manager has it; the log never holds them in
	// clear); nil until a token is first rotated, when each manager's
	// copy from the bootstrap or its join is still the current one.
	JoinTokens []byte `json:"tokens,omitempty"`
	// CertExpiry is the life of the node certificates every manager
	// issues, set when the cluster was created or by `swarm update`; zero
	// means the default.
	CertExpiry time.Duration `json:"certExpiry,omitempty"`
	// RootCA is the cluster CA once `swarm ca --rotate` ran; nil, each
	// manager's own copy from the bootstrap or its join is the current one.
	RootCA *RootCA `json:"rootCA,omitempty"`
	// Autolock says every manager keeps its secrets key locked by the
	// unlock key UnlockKeyID names (Swarm's autolock). The key itself is
	// never in Raft: managers hand it to each other over mutual TLS.
	Autolock    bool   `json:"autolock,omitempty"`
	UnlockKeyID string `json:"unlockKeyID,omitempty"`
	// OrphanAfter is how long a node stays down before its tasks are
	// marked orphaned, set when the cluster was created; zero means
	// DefaultOrphanAfter.
	OrphanAfter time.Duration `json:"orphanAfter,omitempty"`
}

// RootCA is the cluster's CA in Raft: certificates in PEM, keys sealed
// with the cluster secrets key (as the join tokens), so the log never
// holds a key in clear.
type RootCA struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
	// PrevCert and PrevKey are the root Cert replaces while the rotation
	// is under way (nodes still trust it and hold its certificates);
	// nil once every node moved to Cert.
	PrevCert []byte `json:"prevCert,omitempty"`
	PrevKey  []byte `json:"prevKey,omitempty"`
	// Moved are the nodes seen with a certificate of Cert during the
	// rotation (the managers' own switch at its end).
	Moved []string `json:"moved,omitempty"`
}

// Rotating says a rotation to Cert is under way.
func (r *RootCA) Rotating() bool { return r != nil && r.PrevCert != nil }

func (r *RootCA) clone() *RootCA {
	if r == nil {
		return nil
	}
	return &RootCA{Cert: slices.Clone(r.Cert), Key: slices.Clone(r.Key), PrevCert: slices.Clone(r.PrevCert), PrevKey: slices.Clone(r.PrevKey), Moved: slices.Clone(r.Moved)}
}

// AutolockSetting is the payload of OpSetAutolock.
type AutolockSetting struct {
	On bool `json:"on"`
	// KeyID names the current unlock key (unlockkey.Key.ID); empty when
	// off.
	KeyID string `json:"keyID,omitempty"`
}

// DefaultOrphanAfter is how long a node stays down before its tasks are
// orphaned: Swarm's 24 hours (swarmkit's dispatcher). A node back before
// that finds its tasks shut down, not forgotten.
const DefaultOrphanAfter = 24 * time.Hour

const clusterID = "cluster"

// PoolInit is the payload of OpInitCluster.
type PoolInit struct {
	DefaultAddrPool []string `json:"pool"`
	SubnetSize      uint32   `json:"size"`
	// Explicit says the operator gave the pool (flags): a cluster created
	// with another pool then refuses it, instead of ignoring it silently.
	Explicit bool `json:"explicit,omitempty"`
	// CertExpiry, when not zero, is the certificate life the operator
	// gave (--cert-expiry): a new cluster keeps it, one created with
	// another refuses it, as for the pool.
	CertExpiry time.Duration `json:"certExpiry,omitempty"`
	// OrphanAfter, when not zero, is the orphan period the operator gave
	// (--orphan-after): kept by a new cluster, refused by one created
	// with another, as the certificate life.
	OrphanAfter time.Duration `json:"orphanAfter,omitempty"`
}

// poolFixedError says what the pool is and what was asked. It is
// ErrPoolFixed.
type poolFixedError string

func (e poolFixedError) Error() string        { return string(e) }
func (e poolFixedError) Is(target error) bool { return target == ErrPoolFixed }

// hint is where the next search of an allocation starts: the value handed
// out last. Hints are in the snapshots, so a replica restored from one
// hands out what the others do.
type hint struct {
	Key   string `json:"k"`
	Value uint64 `json:"v"`
}

// Hint keys.
const (
	hintSubnet  = "subnet"
	hintVNI     = "vni"
	hintPortPfx = "port/"
	hintAddrPfx = "addr/"
	// hintRemovedPfx + a node ID marks a node an operator removed; its
	// value is the index of the removal.
	hintRemovedPfx = "removed/"
)

func (w *writer) hint(key string) uint64 {
	if raw := w.first(tableHints, "id", key); raw != nil {
		return raw.(*hint).Value
	}
	return 0
}

func (w *writer) setHint(key string, v uint64) error {
	return w.txn.Insert(tableHints, &hint{Key: key, Value: v})
}

func (w *writer) dropHint(key string) error {
	if raw := w.first(tableHints, "id", key); raw != nil {
		return w.txn.Delete(tableHints, raw)
	}
	return nil
}

// clusterConfig returns the stored cluster config, nil before the first
// OpInitCluster.
func (w *writer) clusterConfig() *ClusterConfig {
	if raw := w.first(tableCluster, "id", clusterID); raw != nil {
		return raw.(*ClusterConfig)
	}
	return nil
}

// pool is the address pool networks get their subnets from: the
// cluster's, or Swarm's default before the cluster config is written.
func (w *writer) pool() (allocator.Pool, error) {
	c := w.clusterConfig()
	if c == nil {
		return allocator.DefaultAddrPool(), nil
	}
	return allocator.ParsePool(c.DefaultAddrPool, int(c.SubnetSize))
}

// initCluster writes the cluster config if there is none. A cluster that
// has one keeps it; an explicit, different pool is refused.
func (w *writer) initCluster(in *PoolInit) error {
	if in == nil {
		return fmt.Errorf("init cluster: missing pool")
	}
	if _, err := allocator.ParsePool(in.DefaultAddrPool, int(in.SubnetSize)); err != nil {
		return invalidf("init cluster: %v", err)
	}
	if in.CertExpiry < 0 {
		return invalidf("init cluster: negative certificate expiry %s", in.CertExpiry)
	}
	if in.OrphanAfter < 0 {
		return invalidf("init cluster: negative orphan period %s", in.OrphanAfter)
	}
	if cur := w.clusterConfig(); cur != nil {
		if in.Explicit && (!slices.Equal(cur.DefaultAddrPool, in.DefaultAddrPool) || cur.SubnetSize != in.SubnetSize) {
			return poolFixedError(fmt.Sprintf("the cluster's address pool is %v with /%d subnets, set when it was created; it cannot be changed to %v with /%d",
				cur.DefaultAddrPool, cur.SubnetSize, in.DefaultAddrPool, in.SubnetSize))
		}
		if in.CertExpiry != 0 && in.CertExpiry != cur.CertExpiry {
			was := "the default"
			if cur.CertExpiry != 0 {
				was = cur.CertExpiry.String()
			}
			return poolFixedError(fmt.Sprintf("the cluster's certificate expiry is %s; start without --cert-expiry, or change it for the whole cluster with `shoal swarm update --cert-expiry %s`",
				was, in.CertExpiry))
		}
		if in.OrphanAfter != 0 && in.OrphanAfter != cur.orphanAfter() {
			return poolFixedError(fmt.Sprintf("the cluster's orphan period is %s, set when it was created; it cannot be changed to %s (start without --orphan-after)",
				cur.orphanAfter(), in.OrphanAfter))
		}
		return nil
	}
	c := &ClusterConfig{ID: clusterID, DefaultAddrPool: slices.Clone(in.DefaultAddrPool), SubnetSize: in.SubnetSize,
		CertExpiry: in.CertExpiry, OrphanAfter: in.OrphanAfter}
	return w.txn.Insert(tableCluster, c)
}

// setJoinTokens replaces the sealed join tokens (op.Tokens), if they are
// still those the rotation read (op.CheckTokens): two rotations, of one
// role each, through two leaders, must not undo each other.
func (w *writer) setJoinTokens(op *Op) error {
	sealed := op.Tokens
	if len(sealed) == 0 {
		return invalidf("set join tokens: none given")
	}
	if cur := w.clusterConfig(); cur != nil && op.CheckTokens && !bytes.Equal(cur.JoinTokens, op.ExpectTokens) {
		return fmt.Errorf("set join tokens: another rotation came first: %w", ErrVersionConflict)
	}
	return w.updateCluster("set join tokens", func(c *ClusterConfig) { c.JoinTokens = slices.Clone(sealed) })
}

// updateCluster writes the cluster config changed by change. The config
// must exist: every manager writes it at its start (OpInitCluster).
func (w *writer) updateCluster(what string, change func(*ClusterConfig)) error {
	cur := w.clusterConfig()
	if cur == nil {
		return invalidf("%s: the cluster has no configuration yet (its first manager has not finished starting)", what)
	}
	next := *cur
	next.DefaultAddrPool = slices.Clone(cur.DefaultAddrPool)
	change(&next)
	return w.txn.Insert(tableCluster, &next)
}

// setCertExpiry changes the life of the certificates every manager
// issues from now on. The proposer checked the bounds (ca.CheckExpiry).
func (w *writer) setCertExpiry(d time.Duration) error {
	if d <= 0 {
		return invalidf("set certificate expiry: %s is not a duration", d)
	}
	return w.updateCluster("set certificate expiry", func(c *ClusterConfig) { c.CertExpiry = d })
}

// setRootCA writes the cluster CA of a rotation's step, and with its
// last step the join tokens that name the new root, if the CA is still
// at the step the proposer saw (expect: its Cert and PrevCert, nil for
// none stored), so that a step proposed from an older view (a leader
// change) never undoes a later one.
func (w *writer) setRootCA(in *RootCA, expect *RootCA, tokens []byte) error {
	if in == nil || len(in.Cert) == 0 || len(in.Key) == 0 || (in.PrevCert == nil) != (in.PrevKey == nil) {
		return invalidf("set root CA: incomplete")
	}
	// The node table holds at most 1,000 nodes (dispatcher); the list
	// is bounded well above it, so a row never grows without end.
	if len(in.Moved) > 10000 {
		return invalidf("set root CA: %d nodes moved, more than a cluster holds", len(in.Moved))
	}
	cur := w.clusterConfig()
	if cur == nil {
		return invalidf("set root CA: the cluster has no configuration yet (its first manager has not finished starting)")
	}
	have := cur.RootCA
	same := have == nil && expect == nil ||
		have != nil && expect != nil && bytes.Equal(have.Cert, expect.Cert) && bytes.Equal(have.PrevCert, expect.PrevCert)
	if !same {
		return fmt.Errorf("set root CA: %w: the cluster CA changed meanwhile", ErrVersionConflict)
	}
	return w.updateCluster("set root CA", func(c *ClusterConfig) {
		if tokens != nil {
			c.JoinTokens = slices.Clone(tokens)
		}
		c.RootCA = in.clone()
	})
}

// RootCAStep names the step of the cluster CA stored in Raft (its
// certificate and the one it replaces, nil before the first rotation)
// without copying the row: the managers ask at every request. The
// slices must not be changed.
func (r *ReadTx) RootCAStep() (cert, prev []byte) {
	if c := r.clusterConfig(); c != nil && c.RootCA != nil {
		return c.RootCA.Cert, c.RootCA.PrevCert
	}
	return nil, nil
}

// RootCA returns the cluster CA stored in Raft, nil before the first
// rotation.
func (r *ReadTx) RootCA() *RootCA {
	if c := r.clusterConfig(); c != nil {
		return c.RootCA.clone()
	}
	return nil
}

// setAutolock turns autolock on with the unlock key in.KeyID, or off.
func (w *writer) setAutolock(in *AutolockSetting) error {
	if in == nil || in.On != (in.KeyID != "") || len(in.KeyID) > 64 {
		return invalidf("set autolock: want on with a key ID, or off without one")
	}
	return w.updateCluster("set autolock", func(c *ClusterConfig) { c.Autolock, c.UnlockKeyID = in.On, in.KeyID })
}

// Autolock returns the cluster's autolock setting: on, and the ID of
// the current unlock key.
func (r *ReadTx) Autolock() AutolockSetting {
	if c := r.clusterConfig(); c != nil {
		return AutolockSetting{On: c.Autolock, KeyID: c.UnlockKeyID}
	}
	return AutolockSetting{}
}

// JoinTokens returns the sealed join tokens (see ClusterConfig), nil
// before the first rotation.
func (r *ReadTx) JoinTokens() []byte {
	if c := r.clusterConfig(); c != nil {
		return slices.Clone(c.JoinTokens)
	}
	return nil
}

// CertExpiry is the life of the node certificates the cluster issues,
// zero for the default (ca.DefaultCertExpiry).
func (r *ReadTx) CertExpiry() time.Duration {
	if c := r.clusterConfig(); c != nil {
		return c.CertExpiry
	}
	return 0
}

// OrphanAfter is how long a node stays down before the orchestrator
// marks its tasks orphaned: the cluster's, or DefaultOrphanAfter.
func (r *ReadTx) OrphanAfter() time.Duration {
	if c := r.clusterConfig(); c != nil {
		return c.orphanAfter()
	}
	return DefaultOrphanAfter
}

func (c *ClusterConfig) orphanAfter() time.Duration {
	if c.OrphanAfter > 0 {
		return c.OrphanAfter
	}
	return DefaultOrphanAfter
}

// AddrPool returns the cluster's address pool and subnet size: those
// written at its creation, else Swarm's defaults.
func (r *ReadTx) AddrPool() ([]string, uint32) {
	raw, err := r.txn.First(tableCluster, "id", clusterID)
	if err != nil || raw == nil {
		return []string{allocator.DefaultPool}, allocator.DefaultSubnetSize
	}
	c := raw.(*ClusterConfig)
	return slices.Clone(c.DefaultAddrPool), c.SubnetSize
}

// clusterConfig returns the stored config for snapshots, nil when none.
func (r *ReadTx) clusterConfig() *ClusterConfig {
	raw, err := r.txn.First(tableCluster, "id", clusterID)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*ClusterConfig)
}

// hints returns every hint, for snapshots.
func (r *ReadTx) hints() []*hint { return all[*hint](r, tableHints) }
