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
// certificate life (OpSetCertExpiry).
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
		return nil
	}
	c := &ClusterConfig{ID: clusterID, DefaultAddrPool: slices.Clone(in.DefaultAddrPool), SubnetSize: in.SubnetSize, CertExpiry: in.CertExpiry}
	return w.txn.Insert(tableCluster, c)
}

// setJoinTokens replaces the sealed join tokens. The cluster config must
// exist: every manager writes it at its start (OpInitCluster).
func (w *writer) setJoinTokens(sealed []byte) error {
	if len(sealed) == 0 {
		return invalidf("set join tokens: none given")
	}
	cur := w.clusterConfig()
	if cur == nil {
		return invalidf("set join tokens: the cluster has no configuration yet (its first manager has not finished starting)")
	}
	next := *cur
	next.DefaultAddrPool = slices.Clone(cur.DefaultAddrPool)
	next.JoinTokens = slices.Clone(sealed)
	return w.txn.Insert(tableCluster, &next)
}

// setCertExpiry changes the life of the certificates every manager
// issues from now on. The proposer checked the bounds (ca.CheckExpiry).
func (w *writer) setCertExpiry(d time.Duration) error {
	if d <= 0 {
		return invalidf("set certificate expiry: %s is not a duration", d)
	}
	cur := w.clusterConfig()
	if cur == nil {
		return invalidf("set certificate expiry: the cluster has no configuration yet (its first manager has not finished starting)")
	}
	next := *cur
	next.DefaultAddrPool = slices.Clone(cur.DefaultAddrPool)
	next.JoinTokens = slices.Clone(cur.JoinTokens)
	next.CertExpiry = d
	return w.txn.Insert(tableCluster, &next)
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
	next := *cur
	next.DefaultAddrPool = slices.Clone(cur.DefaultAddrPool)
	next.JoinTokens = slices.Clone(cur.JoinTokens)
	if tokens != nil {
		next.JoinTokens = slices.Clone(tokens)
	}
	next.RootCA = in.clone()
	return w.txn.Insert(tableCluster, &next)
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
