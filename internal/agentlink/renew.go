package agentlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/httpjson"
)

// pathRenew renews the calling node's certificate: the node proves who
// it is with its current one and sends a request for a new key.
const pathRenew = "/agent/v1/renew"

// renewRequest is a node's request for a new certificate.
type renewRequest struct {
	// CSR is a PEM certificate request for the node's new key; only its
	// key is used.
	CSR string `json:"CSR"`
}

// renewAnswer is the node's new certificate.
type renewAnswer struct {
	Cert string `json:"Cert"`
	// CA is the roots the managers trust (ca.RootCA.BundlePEM), which
	// the node trusts from then on: a CA rotation reaches nodes so.
	CA string `json:"CA,omitempty"`
}

// renew signs a new certificate for the calling node: the node ID is
// its current certificate's, the role the one the cluster records (a
// demoted manager renews as a worker, a promoted worker as a manager),
// whatever the request says. A removed
// node never gets here (ServeHTTP answers 410).
func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	peer, err := peerAddr(r)
	if err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// A renewal costs a signature, as a join does: the same budget.
	if ok, retry := s.limits.allow(peer, time.Now()); !ok {
		tooMany(w, http.StatusTooManyRequests, retry, "too many requests: try again later")
		return
	}
	var req renewRequest
	if !decodeLimit(w, r, &req, maxJoinBody) {
		return
	}
	id := nodeOf(r)
	role := id.Role
	if s.store != nil {
		// The cluster's record decides, never the request: a demoted
		// manager renews as a worker, a promoted worker as a manager
		// (the operator's `node promote`). A node the cluster does not
		// record yet keeps its certificate's role.
		if n := s.store.Read().Node(id.NodeID); n != nil {
			role = ca.RoleWorker
			if n.Spec.Role == api.RoleManager {
				role = ca.RoleManager
			}
		}
	}
	trust := s.issuer.CA().Trust
	cert, err := s.issuer.RenewIn(trust, id, role, []byte(req.CSR), time.Now())
	if err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Info("node certificate renewed", "node", id.NodeID, "role", role, "remote", r.RemoteAddr)
	httpjson.Write(w, http.StatusOK, renewAnswer{Cert: string(cert), CA: string(trust.BundlePEM())})
}

// Renew asks the manager for a new certificate for the node of id, with
// a key made here, and returns the new identity and its PEM certificate
// and key (for ca.SaveNodeIdentity). The answer must be for the same
// node, of the same cluster. It does not change what the client
// presents: SetIdentity does.
func (c *Client) Renew(ctx context.Context, id *ca.NodeIdentity) (next *ca.NodeIdentity, certPEM, keyPEM []byte, err error) {
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, nil, nil, err
	}
	var out renewAnswer
	if err := c.call(ctx, http.MethodPost, pathRenew, renewRequest{CSR: string(csrPEM)}, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusGone {
			return nil, nil, nil, &removedError{msg: fmt.Sprintf("renew the node certificate: refused by the manager at %s: %s", c.Addr(), se.Message)}
		}
		return nil, nil, nil, fmt.Errorf("renew the node certificate: %w", err)
	}
	rootPEM := id.Root.BundlePEM()
	if out.CA != "" {
		rootPEM = []byte(out.CA)
	}
	next, err = ca.NewNodeIdentity([]byte(out.Cert), keyPEM, rootPEM)
	if err == nil && next.Root.ClusterID() != id.Root.ClusterID() {
		err = fmt.Errorf("its CA is cluster %q's, not %q's", next.Root.ClusterID(), id.Root.ClusterID())
	}
	if err == nil && next.ID.NodeID != id.ID.NodeID {
		err = fmt.Errorf("it names node %s, not %s", next.ID.NodeID, id.ID.NodeID)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("renew the node certificate: the manager at %s answered an unusable certificate: %w", c.Addr(), err)
	}
	return next, []byte(out.Cert), keyPEM, nil
}

// SetIdentity makes the client present id from its next request on. The
// connections made with the former certificate are not used for new
// requests again (a manager checks a certificate's validity at every
// request, and the former one expires): the requests under way on them
// (a long-poll, the routes stream) finish there, and they close.
func (c *Client) SetIdentity(id *ca.NodeIdentity) {
	c.tr.swap(ca.ClientConfig(id))
	c.trust.Store(id.Root.TrustDigest())
}

// TrustChanged is sent on (buffered, one) when a manager's answer says
// it trusts other roots than the client's identity: a CA rotation began
// or ended, and the node should renew now.
func (c *Client) TrustChanged() <-chan struct{} { return c.trustCh }

// noteTrust compares a manager's HeaderTrust with the client's own.
func (c *Client) noteTrust(h http.Header) {
	got := h.Get(HeaderTrust)
	own, _ := c.trust.Load().(string)
	if got == "" || own == "" || got == own {
		return
	}
	select {
	case c.trustCh <- struct{}{}:
	default:
	}
}

// maxRetired bounds the transports a client keeps after renewals, to
// close their connections when it closes: renewals come days apart, so
// only the latest ones can still have requests under way.
const maxRetired = 4

// transports is the client's RoundTripper: the transport of the current
// certificate, and those of the former ones until their requests end.
type transports struct {
	mk func(*tls.Config) *http.Transport

	mu      sync.Mutex
	cur     *http.Transport
	retired []*http.Transport
}

func (t *transports) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	cur := t.cur
	t.mu.Unlock()
	return cur.RoundTrip(r)
}

func (t *transports) swap(conf *tls.Config) {
	next := t.mk(conf)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.CloseIdleConnections()
	t.retired = append(t.retired, t.cur)
	for _, old := range t.retired {
		old.CloseIdleConnections()
	}
	if len(t.retired) > maxRetired {
		t.retired = t.retired[len(t.retired)-maxRetired:]
	}
	t.cur = next
}

// CloseIdleConnections closes the idle connections of every transport.
func (t *transports) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.CloseIdleConnections()
	for _, old := range t.retired {
		old.CloseIdleConnections()
	}
}
