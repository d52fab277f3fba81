package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
)

// initCA loads the cluster CA from the data folder (DATA/ca, the key
// sealed with the manager's secret key), making it on the first start,
// and the worker join token at tokenPath, which names it; and it gives
// this manager its certificate for the agent port. certExpiry (0: not
// given) is only checked here: the life of the certificates issued is
// the cluster's (initAddrPool records it). The manager token, in
// DATA/manager-token, admits managers (pathManagerJoin).
func (d *Dev) initCA(tokenPath string, certExpiry time.Duration) error {
	if certExpiry != 0 {
		if err := ca.CheckExpiry(certExpiry); err != nil {
			return err
		}
	}
	// The secrets key the CA key is sealed with, in its file now.
	if err := d.setLocalKey(); err != nil {
		return err
	}
	now := time.Now()
	root, err := ca.LoadOrCreateRoot(d.dir.Join("ca"), d.mgr.SecretKey(), now)
	if err != nil {
		return err
	}
	// A rotation that ended left its root beside the bootstrap's.
	if root, err = d.loadFolderRoot(root); err != nil {
		return err
	}
	d.ca.folder = root
	tok, replaced, err := ca.LoadOrCreateWorkerToken(tokenPath, root)
	if err != nil {
		return err
	}
	if replaced {
		d.log.Warn("the join token was replaced by one naming the cluster CA: agents that joined before must join again with the new token", "file", tokenPath)
	}
	// Every manager issues for the life the cluster records: set by its
	// first manager's --cert-expiry, changed by `swarm update
	// --cert-expiry` (a Raft write), its own certificate included.
	expiry := func() time.Duration { return d.mgr.Store().Read().CertExpiry() }
	if d.self, err = ca.NewSelfCert(root, d.nodeID, nil, expiry); err != nil {
		return err
	}
	// The manager token is made the same way, in its own file; which
	// secret a joining node brings decides its role.
	mtok, _, err := ca.LoadOrCreateWorkerToken(d.dir.Join(managerTokenFile), root)
	if err != nil {
		return err
	}
	d.tokens.local = ca.JoinTokens{Worker: tok, Manager: mtok}
	d.issuer = &ca.Issuer{Root: root, State: d.caState, Current: d.currentTokens, CurrentExpiry: expiry}
	// The managers' own certificates follow a rotation too.
	d.self.SetRoots(func() (sign, trust *ca.RootCA) {
		st := d.issuer.CA()
		return st.Self, st.Trust
	})
	return nil
}

// checkCertExpiry refuses a certificate life given to a manager that is
// not the cluster's (the leader's start checked it as it wrote it; a
// follower checks it once caught up, here).
func (d *Dev) checkCertExpiry(want time.Duration) error {
	got := d.mgr.Store().Read().CertExpiry()
	if want == 0 || want == got || (got == 0 && want == ca.DefaultCertExpiry) {
		return nil
	}
	if got == 0 {
		got = ca.DefaultCertExpiry
	}
	return fmt.Errorf("cluster configuration: the cluster's certificate expiry is %s; start without --cert-expiry, or change it for the whole cluster with `shoal swarm update --cert-expiry %s`", got, want)
}

// joinTimeout bounds an agent's first join: the manager must answer at
// its first start, or the agent says why and exits.
const joinTimeout = 30 * time.Second

// nodeIdentity returns the certificate the agent's node keeps in dir, or
// joins the cluster with cfg.Token to get one (its first start) and keeps
// it there, so that later starts need no token.
func nodeIdentity(ctx context.Context, dir string, cfg AgentConfig, addr string, log *slog.Logger) (*ca.NodeIdentity, error) {
	id, err := ca.LoadNodeIdentity(dir)
	if err == nil {
		if time.Now().After(id.Cert.Leaf.NotAfter) {
			return nil, fmt.Errorf("the node certificate in %s expired on %s: remove %s and %s and start the agent again with the join token",
				dir, id.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339), ca.NodeCertFile, ca.NodeKeyFile)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("no join token: this node has no certificate yet; pass --token-file or SHOAL_JOIN_TOKEN (`shoal swarm join-token worker` on the manager prints it)")
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	certPEM, keyPEM, caPEM, err := agentlink.Join(ctx, cfg.Manager, cfg.Token, addr)
	if err != nil {
		return nil, err
	}
	if err := ca.SaveNodeIdentity(dir, certPEM, keyPEM, caPEM); err != nil {
		return nil, err
	}
	if id, err = ca.NewNodeIdentity(certPEM, keyPEM, caPEM); err != nil {
		return nil, err
	}
	log.Info("joined the cluster", "node", id.ID.NodeID, "manager", cfg.Manager)
	return id, nil
}
