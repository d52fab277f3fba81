package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/connlimit"
	"github.com/shoalproject/shoal/internal/manager"
)

// Remote use: a manager serves its API (--api IP:PORT) and the Docker
// Engine API (--docker-api tcp://IP:PORT) on TCP to operators only, over
// the cluster's mutual TLS. The client must show an operator certificate
// of the cluster CA (`shoal swarm ca --issue-client`, OU "operator"); a
// node's certificate, one of another CA, none, or plain HTTP get no
// answer, the handshake fails first (ca.APIServer). Behind the
// handshake, the same handlers as the unix sockets': an operator may do
// what the socket's owner may.

// remoteMaxConns bounds the connections each TCP API listener holds,
// remoteMaxHandshakes those of them whose handshake is unfinished (the
// oldest is closed to make room), each for at most
// remoteHandshakeTimeout.
const (
	remoteMaxConns         = 512
	remoteMaxHandshakes    = 64
	remoteHandshakeTimeout = 10 * time.Second
)

// remoteAPI is a manager's TCP API listeners.
type remoteAPI struct {
	once sync.Once
	tls  *ca.APIServer

	srv  *http.Server
	addr string
	// dockerAddr is the Docker Engine API's TCP address, when on TCP.
	dockerAddr string
	conns      [2]connlimit.Limiter
}

// apiTLS is the TLS configuration both listeners share: one server
// certificate for hosts (the names clients dial), issued when first
// needed.
func (d *Dev) apiTLS(hosts []string) *tls.Config {
	d.remote.once.Do(func() {
		d.remote.tls = &ca.APIServer{NodeID: d.nodeID, Hosts: hosts, State: d.issuer.CA, Expiry: d.issuer.CurrentExpiry}
	})
	return d.remote.tls.TLSConfig()
}

// apiHosts are the names and addresses the server certificate holds:
// the listener's IP (every address of the host when it listens on all),
// the node's address, localhost, the host name, and extra (--api-san).
func apiHosts(listen string, nodeAddr string, extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1", nodeAddr}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		hosts = append(hosts, host)
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, n.IP.String())
			}
		}
	} else if host != "" {
		hosts = append(hosts, host)
	}
	return append(hosts, extra...)
}

// serveTLS serves h on TCP addr behind the API's mutual TLS; it returns
// the server and the address bound.
func (d *Dev) serveTLS(addr string, hosts []string, h http.Handler, lim *connlimit.Limiter, what string, log *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s listener: %w", what, err)
	}
	d.reserve(ln.Addr().String())
	lim.Max, lim.Log, lim.Name = remoteMaxConns, log, what
	// No ReadTimeout or WriteTimeout, which would end the events and logs
	// streams (they have their own write deadlines). The handshakes run
	// beside the server, in places of their own: connections that never
	// finish theirs can't fill the operators' (connlimit.Handshakes).
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	hs := &connlimit.Handshakes{Max: remoteMaxHandshakes, Log: log, Name: what}
	tln := connlimit.NewTLSListener(lim.Listener(ln), d.apiTLS(hosts), hs, remoteHandshakeTimeout)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(tln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" server stopped", "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

// serveRemoteAPI serves the API handler h on TCP addr to operators.
func (d *Dev) serveRemoteAPI(addr string, hosts []string, h http.Handler, log *slog.Logger) error {
	srv, bound, err := d.serveTLS(addr, hosts, h, &d.remote.conns[0], "API", log)
	if err != nil {
		return err
	}
	d.remote.srv, d.remote.addr = srv, bound
	log.Info("serving the API on TCP to operator certificates", "addr", bound)
	return nil
}

// APIAddr is the TCP API listener's address, empty when there is none.
func (d *Dev) APIAddr() string { return d.remote.addr }

// DockerAPIAddr is the Docker Engine API's TCP address, empty when it is
// served on a unix socket or not at all.
func (d *Dev) DockerAPIAddr() string { return d.remote.dockerAddr }

// issueOperator signs an operator certificate from the root that signs
// the nodes' (during a CA rotation the new one), and answers the roots
// trusted now: the client then trusts the managers' certificates whether
// or not the rotation has ended.
func (d *Dev) issueOperator(req api.OperatorCertRequest) (*api.OperatorCert, error) {
	expiry := req.Expiry
	if expiry == 0 {
		expiry = d.mgr.Store().Read().CertExpiry()
	}
	if expiry == 0 {
		expiry = ca.DefaultCertExpiry
	}
	st := d.issuer.CA()
	if !st.Trust.CanSign() {
		return nil, errors.New("this manager does not hold the cluster CA key")
	}
	cert, err := st.Trust.IssueOperator([]byte(req.CSR), req.Name, expiry, time.Now())
	if err != nil {
		// The request's fault: a bad name, CSR or expiry.
		return nil, fmt.Errorf("%w: %v", manager.ErrInvalid, err)
	}
	return &api.OperatorCert{Cert: string(cert), CA: string(st.Trust.BundlePEM())}, nil
}
