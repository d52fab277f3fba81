package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/state"
)

// A CA rotation (`swarm ca --rotate`), as Swarm's: the leader makes a
// new root and writes it to Raft, its key sealed with the cluster
// secrets key, beside the old one (OpSetRootCA). From then on every
// manager trusts both, signs the nodes' certificates with the new one
// and its own with the old one; every agent-link answer names the roots
// the managers trust (agentlink.HeaderTrust), and a node whose own
// differ renews at once, getting a certificate of the new root and both
// roots to trust. The leader records the nodes it sees with a
// certificate of the new root (RootCA.Moved); once every node but the
// managers has moved, so that all trust the new root, it writes the last
// step: the old root is dropped, the managers issue their own
// certificates from the new one, and the join tokens name it (old
// tokens stop working). Nodes then renew once more to drop the old root.
// The state is in Raft, so a manager restarted, or a new leader, goes on
// from where the rotation stands.

// rotationCheck is how often the leader looks at a rotation's progress.
const rotationCheck = 250 * time.Millisecond

// rotatedFile keeps, in DATA/ca, the root of the last rotation that
// ended, with its sealed key, written whole: a restarted manager starts
// with it rather than the bootstrap's root it no longer trusts.
const rotatedFile = "ca.rotated"

// rotatedRoot is rotatedFile's content.
type rotatedRoot struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// cas is a manager's view of the cluster CA.
type cas struct {
	// folder is the root the data folder holds.
	folder *ca.RootCA

	mu  sync.Mutex
	key string
	cur ca.CAState

	// seen is the root each node last showed a certificate of, on the
	// agent link (on the leader, which the nodes talk to).
	seenMu sync.Mutex
	seen   map[string]string
}

// loadFolderRoot returns the root a rotation left in DATA/ca, or root
// (the bootstrap's) when none ended.
func (d *Dev) loadFolderRoot(root *ca.RootCA) (*ca.RootCA, error) {
	b, err := os.ReadFile(d.dir.Join("ca", rotatedFile))
	if errors.Is(err, os.ErrNotExist) {
		return root, nil
	}
	var rr rotatedRoot
	if err == nil {
		err = json.Unmarshal(b, &rr)
	}
	var r *ca.RootCA
	if err == nil {
		r, err = ca.OpenRootCA(rr.Cert, rr.Key, d.mgr.SecretKey())
	}
	if err != nil {
		return nil, fmt.Errorf("cluster CA of the last rotation (%s): %w", d.dir.Join("ca", rotatedFile), err)
	}
	return r, nil
}

// caState is the CA as the cluster has it now: Raft's once a rotation
// began, else the data folder's. Opening sealed keys is done once per
// step.
func (d *Dev) caState() ca.CAState {
	c := &d.ca
	tx := d.mgr.Store().Read()
	cert, prev := tx.RootCAStep()
	if cert == nil {
		return ca.CAState{Trust: c.folder, Self: c.folder, Token: c.folder}
	}
	key := string(cert) + "|" + string(prev)
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == c.key {
		return c.cur
	}
	row := tx.RootCA()
	st, err := openCAState(row, d)
	if err != nil {
		d.log.Error("cluster CA in Raft unusable; keeping the previous one", "err", err)
		if c.cur.Trust == nil {
			return ca.CAState{Trust: c.folder, Self: c.folder, Token: c.folder}
		}
		return c.cur
	}
	if !row.Rotating() {
		if err := d.saveRotated(row); err != nil {
			d.log.Error("keep the rotated cluster CA in the data folder", "err", err)
		}
	}
	c.key, c.cur = key, st
	return st
}

func openCAState(row *state.RootCA, d *Dev) (ca.CAState, error) {
	cur, err := ca.OpenRootCA(row.Cert, row.Key, d.mgr.SecretKey())
	if err != nil {
		return ca.CAState{}, err
	}
	if !row.Rotating() {
		return ca.CAState{Trust: cur, Self: cur, Token: cur}, nil
	}
	prev, err := ca.OpenRootCA(row.PrevCert, row.PrevKey, d.mgr.SecretKey())
	if err != nil {
		return ca.CAState{}, err
	}
	return ca.CAState{Trust: cur.WithPrevious(prev), Self: prev, Token: prev}, nil
}

// saveRotated keeps the root of an ended rotation in the data folder
// (one file, replaced whole), then the join tokens naming it (decoys
// under autolock).
func (d *Dev) saveRotated(row *state.RootCA) error {
	b, err := json.Marshal(rotatedRoot{Cert: row.Cert, Key: row.Key})
	if err != nil {
		return err
	}
	if err := writePrivate(d.dir.Join("ca", rotatedFile), b); err != nil {
		return err
	}
	if d.lock.scrubbed.Load() || d.mgr.Store().Read().Autolock().On {
		// Under autolock the folder keeps tokens that admit nobody
		// (autolock_tokens.go), now naming the new root.
		root, err := ca.ParseRootCert(row.Cert)
		if err != nil {
			return err
		}
		d.lock.scrubbed.Store(true)
		return d.writeDecoyTokens(root)
	}
	jt, err := d.clusterTokens()
	if err != nil {
		return err
	}
	if err := writePrivate(d.dir.Join(managerTokenFile), []byte(jt.Manager.String()+"\n")); err != nil {
		return err
	}
	return writePrivate(d.dir.Join("join-token"), []byte(jt.Worker.String()+"\n"))
}

// sawNode notes the root of the certificate a node showed, while a
// rotation is under way.
func (d *Dev) sawNode(id ca.Identity) {
	if d.issuer.CA().Trust.Previous() == nil {
		return
	}
	c := &d.ca
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	if c.seen == nil {
		c.seen = map[string]string{}
	}
	c.seen[id.NodeID] = id.RootDigest
}

// rotateCA starts a rotation to a new root, on the leader.
func (d *Dev) rotateCA(ctx context.Context) error {
	row := d.mgr.Store().Read().RootCA()
	if row.Rotating() {
		return fmt.Errorf("%w: a CA rotation is under way: wait for it to end (`shoal swarm ca --rotate` shows its progress)", manager.ErrConflict)
	}
	st := d.caState()
	prev := st.Trust
	next, err := ca.NewRootCA(prev.ClusterID(), time.Now())
	if err != nil {
		return err
	}
	k := d.mgr.SecretKey()
	nextKey, err := next.SealKey(k)
	if err != nil {
		return err
	}
	prevKey, err := prev.SealKey(k)
	if err != nil {
		return err
	}
	in := &state.RootCA{Cert: next.CertPEM, Key: nextKey, PrevCert: prev.CertPEM, PrevKey: prevKey}
	if err := d.mgr.SetRootCA(ctx, in, row); err != nil {
		return err
	}
	d.log.Info("cluster CA rotation started", "from", prev.Digest(), "to", next.Digest())
	return nil
}

// driveRotation moves a rotation on while this manager leads.
func (d *Dev) driveRotation(ctx context.Context) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(rotationCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !d.mgr.IsLeader() {
				continue
			}
			if err := d.rotationStep(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("cluster CA rotation: step failed; trying again", "err", err)
			}
		}
	}()
}

// rotationStep records the nodes newly seen with the new root, and ends
// the rotation once every node but the managers moved.
func (d *Dev) rotationStep(ctx context.Context) error {
	tx := d.mgr.Store().Read()
	row := tx.RootCA()
	if !row.Rotating() {
		return nil
	}
	next, err := ca.ParseRootCert(row.Cert)
	if err != nil {
		return err
	}
	want := next.Digest()
	moved := slices.Clone(row.Moved)
	d.ca.seenMu.Lock()
	for id, digest := range d.ca.seen {
		if digest == want && !slices.Contains(moved, id) && tx.Node(id) != nil {
			moved = append(moved, id)
		}
	}
	d.ca.seenMu.Unlock()
	done := true
	for _, n := range tx.Nodes() {
		if n.Spec.Role != api.RoleManager && !slices.Contains(moved, n.ID) {
			done = false
		}
	}
	if !done {
		if len(moved) == len(row.Moved) {
			return nil
		}
		slices.Sort(moved)
		up := *row
		up.Moved = moved
		return d.mgr.SetRootCA(ctx, &up, row)
	}
	// Every node trusts the new root: drop the old one, and the tokens
	// name the new root (same secrets).
	// Compare-and-set on the tokens, in one command with the CA: a join
	// token rotated meanwhile keeps its new secret.
	final := &state.RootCA{Cert: row.Cert, Key: row.Key}
	err = d.mgr.UpdateJoinTokens(ctx, func(stored manager.JoinTokens, ok bool) (manager.JoinTokens, error) {
		jt, err := d.parseTokens(stored, ok)
		if err != nil {
			return manager.JoinTokens{}, err
		}
		return manager.JoinTokens{
			Worker:  ca.Token{Digest: want, Secret: jt.Worker.Secret}.String(),
			Manager: ca.Token{Digest: want, Secret: jt.Manager.Secret}.String()}, nil
	}, state.Op{Kind: state.OpSetRootCA, CA: final, ExpectCA: row})
	if err != nil {
		return fmt.Errorf("end the CA rotation: %w", err)
	}
	// What nodes showed matters only during a rotation.
	d.ca.seenMu.Lock()
	d.ca.seen = nil
	d.ca.seenMu.Unlock()
	d.log.Info("cluster CA rotation ended: every node has a certificate of the new root", "root", want)
	return nil
}

// rotationProgress is what swarm ca --rotate shows: nodes with a
// certificate of the new root, of all; nil when no rotation is under way.
func rotationProgress(tx *state.ReadTx) *api.CARotation {
	row := tx.RootCA()
	if !row.Rotating() {
		return nil
	}
	p := &api.CARotation{}
	for _, n := range tx.Nodes() {
		p.Total++
		if n.Spec.Role != api.RoleManager && slices.Contains(row.Moved, n.ID) {
			p.Rotated++
		}
	}
	return p
}
