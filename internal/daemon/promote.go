package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/httpjson"
)

// pathPromoted hands a promoted node, proving it with the manager
// certificate its renewal gave it, the cluster's secrets, as the manager
// token does on pathManagerJoin for a new manager.
const pathPromoted = "/manager/v1/promoted"

// servePromoted answers a node the cluster records as a manager (`node
// promote`) with the cluster's secrets under its own node ID. Its
// certificate (OU manager, checked by requireManager) came from a
// renewal, which gives the manager role only to a node the cluster
// records as one; a node without a record is a manager joining by token,
// which has its own path.
func (d *Dev) servePromoted(w http.ResponseWriter, r *http.Request) {
	id, _ := ca.PeerIdentity(d.issuer.CA().Trust, r.TLS, time.Now())
	if n := d.mgr.Store().Read().Node(id.NodeID); n == nil || n.Spec.Role != api.RoleManager {
		httpjson.WriteError(w, http.StatusForbidden, fmt.Sprintf("node %s is not a promoted node: a new manager joins with the manager token", id.NodeID))
		return
	}
	// Once: a node already in Raft has the secrets. A certificate copied
	// from its folder (or a later one) must not fetch them again: under
	// autolock they include the unlock key.
	if in, _ := d.mgr.Raft().InConfiguration(id.NodeID); in {
		httpjson.WriteError(w, http.StatusForbidden, fmt.Sprintf("node %s is a manager already: the cluster's secrets are handed to a promoted node once", id.NodeID))
		return
	}
	d.answerJoin(w, r, id.NodeID)
}

// joinPromoted gets the cluster's secrets from the manager at addr for
// the promoted node of id, which presents its manager certificate.
func joinPromoted(ctx context.Context, addr string, id *ca.NodeIdentity) (*managerJoinAnswer, error) {
	c := &http.Client{Timeout: joinTimeout, Transport: &http.Transport{TLSClientConfig: ca.ClientConfig(id), TLSHandshakeTimeout: 10 * time.Second}}
	defer c.CloseIdleConnections()
	var out managerJoinAnswer
	if err := postJSON(ctx, c, "https://"+addr+pathPromoted, []byte("{}"), &out); err != nil {
		return nil, fmt.Errorf("join the managers at %s as a promoted node: %w", addr, err)
	}
	if out.NodeID != id.ID.NodeID {
		return nil, fmt.Errorf("join the managers at %s as a promoted node: the answer names node %q, not %s", addr, out.NodeID, id.ID.NodeID)
	}
	// During a CA rotation the answer's CA is the old root, the one the
	// tokens name; the node's renewal gave it both.
	return checkJoinAnswer(&out, addr, id.Root.Trusts)
}

// IsManagerFolder reports whether the data folder at dir holds a
// manager's cluster state (a manager, or a promoted worker): `shoal
// agent` then runs the manager. join-token marks it, as for StartDev.
func IsManagerFolder(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "join-token"))
	return err == nil
}

// ErrNoListenAddr is why a manager folder cannot start from `shoal agent`
// without its cluster port.
var ErrNoListenAddr = errors.New("this node is a manager (it was promoted): pass --listen-addr IP:PORT, its cluster port")

// ManagerConfig is the DevConfig of the manager a worker node runs once
// promoted: the same node (address, data folder, ingress, routing mesh,
// runtimes, hostname and labels) with its cluster port at
// cfg.ListenAddr. join, when set, is the manager it joins through, with
// the promoted node's manager certificate id.
func ManagerConfig(cfg AgentConfig, addr, join string, id *ca.NodeIdentity) (DevConfig, error) {
	if cfg.ListenAddr == "" {
		return DevConfig{}, ErrNoListenAddr
	}
	if addr == "" {
		var err error
		if addr, err = localAddrTowards(cfg.Manager); err != nil {
			return DevConfig{}, err
		}
	}
	if err := checkListenAddr(cfg.ListenAddr, addr); err != nil {
		return DevConfig{}, err
	}
	ic := cfg.Ingress
	return DevConfig{DataDir: cfg.DataDir, Addr: addr, Logger: cfg.Logger, AgentListen: cfg.ListenAddr,
		Join: join, JoinIdentity: id, Hostname: cfg.Hostname, Labels: cfg.Labels,
		Docker: cfg.Docker, DockerAddr: cfg.DockerAddr, DrainDelay: cfg.DrainDelay, SecretsDir: cfg.SecretsDir, Publish: cfg.Publish,
		IngressAddr: ic.Addr, IngressAccessLog: ic.AccessLog, IngressRequireEnable: ic.RequireEnable,
		IngressMaxBodyBytes: ic.MaxBodyBytes, IngressMaxConns: ic.MaxConns, IngressIdleTimeout: ic.IdleTimeout,
		IngressResponseHeaderTimeout: ic.ResponseHeaderTimeout,
		IngressAllowEncodedSlash:     ic.AllowEncodedSlash, IngressAllowEncodedBackslash: ic.AllowEncodedBackslash,
		IngressTLSAddr: ic.TLSAddr, IngressCertificates: ic.Certificates, IngressClientCAs: ic.ClientCAs,
		IngressTLSOptions: ic.TLSOptions, IngressTLSFiles: ic.TLSFiles, IngressTLSReload: ic.TLSReload,
		IngressTrustedProxies: ic.TrustedProxies}, nil
}

// checkListenAddr checks an agent's --listen-addr: IP:PORT, the IP the
// node's address or one that listens on every address.
func checkListenAddr(listen, addr string) error {
	host, port, err := net.SplitHostPort(listen)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || port == "" {
		return fmt.Errorf("invalid listen address %q: want IP:PORT", listen)
	}
	if !ip.IsUnspecified() && !ip.Equal(net.ParseIP(addr)) {
		return fmt.Errorf("invalid listen address %q: its IP must be the node's address %s (or 0.0.0.0): the other managers reach a manager at its node's address", listen, addr)
	}
	return nil
}

// onRole is the agent's OnRole: a manager role starts the promotion once.
func (a *Agent) onRole(role string) {
	if role == api.RoleManager && a.listenAddr != "" {
		select {
		case a.roleCh <- role:
		default:
		}
	}
}

// promoteWhenAsked waits for the cluster to record this node as a
// manager, then renews its certificate as a manager (retrying until the
// renewal says manager) and closes Promoted: the caller stops this agent
// and starts the node's manager (StartPromoted). The tasks keep running
// in between and the manager's agent adopts them, as after a restart.
func (a *Agent) promoteWhenAsked(ctx context.Context, id *ca.NodeIdentity) {
	select {
	case <-ctx.Done():
		return
	case <-a.roleCh:
	}
	a.log.Info("this node was promoted to manager: renewing its certificate as a manager")
	wait := 200 * time.Millisecond
	for {
		next, certPEM, keyPEM, err := a.link.Renew(ctx, id)
		if err == nil && next.ID.Role != ca.RoleManager {
			err = fmt.Errorf("the renewed certificate's role is %s", next.ID.Role)
		}
		if err == nil {
			// The roots the manager answered: both during a CA rotation.
			if err = ca.ReplaceNodeIdentity(a.dir.Path, certPEM, keyPEM, next.Root.BundlePEM()); err == nil {
				a.link.SetIdentity(next)
				a.promotedID = next
				close(a.promoted)
				return
			}
		}
		a.log.Warn("promotion: manager certificate not issued yet; trying again", "err", err, "in", wait)
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Promoted is closed once the cluster made this node a manager and its
// certificate says so: call StartPromoted.
func (a *Agent) Promoted() <-chan struct{} { return a.promoted }

// StartPromoted turns the promoted worker node of a into a manager node:
// it closes the agent (tasks keep running), then starts the node's
// manager on the same data folder, which joins the managers through the
// one the agent was connected to, with the node's manager certificate
// (no token), is added to Raft, and whose agent adopts the tasks.
func StartPromoted(ctx context.Context, a *Agent, cfg AgentConfig) (*Dev, error) {
	select {
	case <-a.promoted:
	default:
		return nil, errors.New("this node was not promoted")
	}
	join, id, addr := a.link.Addr(), a.promotedID, a.addr
	// The TLS options the agent's ingress reloaded, not those read at
	// start (the files may no longer load).
	cfg.Ingress = a.ingress.tlsInForce(cfg.Ingress)
	dcfg, err := ManagerConfig(cfg, addr, join, id)
	if err != nil {
		return nil, err
	}
	if err := a.Close(); err != nil {
		a.log.Warn("closing the agent before its manager starts", "err", err)
	}
	return StartDev(ctx, dcfg)
}

// dropWorkerIdentity removes the certificate and key a promoted node's
// agent kept in its data folder (its renewal made them a manager's) once
// its manager has joined: the manager presents a certificate it holds
// only in memory, as every manager does, so a copy of the folder holds
// no manager credential (autolock's promise).
func dropWorkerIdentity(dir string) error {
	for _, f := range []string{ca.NodeCertFile, ca.NodeKeyFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove the promoted node's agent identity: %w", err)
		}
	}
	return nil
}
