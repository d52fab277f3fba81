package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// TestIngressEncodedSeparatorOptions: a node's ingress refuses request
// paths with %2F or %5C (400) unless its IngressConfig allows each, and
// then sends them on encoded.
func TestIngressEncodedSeparatorOptions(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.RequestURI)
	}))
	defer backend.Close()
	svc := &api.Service{ID: "s1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web", Labels: map[string]string{
		"traefik.http.routers.web.rule":                      "PathPrefix(`/`)",
		"traefik.http.services.web.loadbalancer.server.port": "80",
	}}}
	tk := runningTask(backend.Listener.Addr().String())
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, c := range []struct {
		cfg    IngressConfig
		path   string
		status int
	}{
		{IngressConfig{}, "/a%2Fb", http.StatusBadRequest},
		{IngressConfig{}, "/a%5Cb", http.StatusBadRequest},
		{IngressConfig{AllowEncodedSlash: true}, "/a%2Fb", http.StatusOK},
		{IngressConfig{AllowEncodedSlash: true}, "/a%5Cb", http.StatusBadRequest},
		{IngressConfig{AllowEncodedBackslash: true}, "/a%5Cb", http.StatusOK},
		{IngressConfig{AllowEncodedBackslash: true}, "/a%2Fb", http.StatusBadRequest},
	} {
		withIngress(t, c.cfg, svc, tk, func(in *nodeIngress) {
			resp, err := hc.Get("http://" + in.addr + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || (c.status == http.StatusOK && string(body) != c.path) {
				t.Errorf("%+v: GET %s: %d %q, want %d", c.cfg, c.path, resp.StatusCode, body, c.status)
			}
			hc.CloseIdleConnections()
		})
	}
}

// withIngress runs fn against a node ingress of cfg (on a port of its
// own) that routes svc to tk, and stops it.
func withIngress(t *testing.T, cfg IngressConfig, svc *api.Service, tk *api.Task, fn func(in *nodeIngress)) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.TLSAddr != "" {
		cfg.TLSAddr = "127.0.0.1:0"
	}
	var wg sync.WaitGroup
	in, err := startIngress(cfg, nil, &wg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.stop(ctx); err != nil {
			t.Error(err)
		}
		wg.Wait()
	}()
	in.table.Reset([]*api.Service{svc}, []*api.Task{tk})
	fn(in)
}

// TestIngressTrustedProxies: the ingress keeps a client's
// X-Forwarded-For only when the client is one of IngressConfig
// .TrustedProxies, so that ipallowlist with ipStrategy.depth lets in the
// client a trusted load balancer names and nobody who names himself.
func TestIngressTrustedProxies(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-For"))
	}))
	defer backend.Close()
	svc := &api.Service{ID: "s1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web", Labels: map[string]string{
		"traefik.http.routers.web.rule":                                "PathPrefix(`/`)",
		"traefik.http.routers.web.middlewares":                         "office",
		"traefik.http.middlewares.office.ipallowlist.sourcerange":      "203.0.113.7",
		"traefik.http.middlewares.office.ipallowlist.ipstrategy.depth": "1",
		"traefik.http.services.web.loadbalancer.server.port":           "80",
	}}}
	tk := runningTask(backend.Listener.Addr().String())
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	lb := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, c := range []struct {
		trusted []netip.Prefix
		xff     string
		status  int
		seen    string
	}{
		{lb, "203.0.113.7", http.StatusOK, "203.0.113.7, 127.0.0.1"},
		{lb, "198.51.100.1", http.StatusForbidden, ""},
		{nil, "203.0.113.7", http.StatusForbidden, ""},
	} {
		withIngress(t, IngressConfig{TrustedProxies: c.trusted}, svc, tk, func(in *nodeIngress) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+in.addr+"/", nil)
			req.Header.Set("X-Forwarded-For", c.xff)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || (c.status == http.StatusOK && string(body) != c.seen) {
				t.Errorf("trusted %v, X-Forwarded-For %s: %d %q, want %d %q", c.trusted, c.xff, resp.StatusCode, body, c.status, c.seen)
			}
			hc.CloseIdleConnections()
		})
	}
}

// TestIngressCertificateFromSecretLabels: a node whose websecure entry
// point has no certificate of its own serves a tls=true router with the
// certificate its service's labels name (two of its secrets), chosen by
// SNI; a name no certificate covers fails the handshake.
func TestIngressCertificateFromSecretLabels(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "dash")
	}))
	defer backend.Close()
	certPEM, keyPEM, leaf := testutil.SelfSignedPEM(t, "dash.example")
	svc := &api.Service{ID: "s1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "dash", Labels: map[string]string{
		"traefik.http.routers.dash.rule":                         "Host(`dash.example`)",
		"traefik.http.routers.dash.tls":                          "true",
		"traefik.tls.stores.default.defaultcertificate.certfile": "/run/secrets/site.crt",
		"traefik.tls.stores.default.defaultcertificate.keyfile":  "/run/secrets/site.key",
		"traefik.http.services.dash.loadbalancer.server.port":    "80",
	}, TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Secrets: []api.SecretReference{
		{SecretName: "site.crt", SecretID: "crt"}, {SecretName: "site.key", SecretID: "key"},
	}}}}}
	tk := runningTask(backend.Listener.Addr().String())
	secrets := map[string][]byte{"crt": certPEM, "key": keyPEM}
	read := func(ref api.SecretReference) ([]byte, error) { return secrets[ref.SecretID], nil }
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	withIngress(t, IngressConfig{TLSAddr: "x", Secrets: read}, svc, tk, func(in *nodeIngress) {
		for _, c := range []struct {
			name string
			ok   bool
		}{{"dash.example", true}, {"other.example", false}} {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: c.name}, ForceAttemptHTTP2: true}
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			req, _ := http.NewRequest(http.MethodGet, "https://"+in.tlsAddr+"/", nil)
			req.Host = "dash.example"
			resp, err := hc.Do(req)
			if !c.ok {
				if err == nil {
					resp.Body.Close()
					t.Errorf("SNI %s: %s, want the handshake refused", c.name, resp.Status)
				}
				continue
			}
			if err != nil {
				t.Fatalf("SNI %s: %v", c.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "dash" || resp.ProtoMajor != 2 {
				t.Errorf("SNI %s: %s %s %q, want 200 over HTTP/2 from the task", c.name, resp.Proto, resp.Status, body)
			}
			tr.CloseIdleConnections()
		}
	})
}

// runningTask is task t1 of service s1, running, its port 80 at addr.
func runningTask(addr string) *api.Task {
	return &api.Task{ID: "t1", ServiceID: "s1", DesiredState: api.TaskStateRunning,
		Status:    api.TaskStatus{State: api.TaskStateRunning},
		Endpoints: []api.TaskEndpoint{{TargetPort: 80, Addr: addr}}}
}

// TestIngressPassesClientCertificate: with ClientCAs the websecure entry
// point asks for a client certificate and verifies it, and a router's
// passtlsclientcert gives the task the one the client showed; a client
// without one is served, without the header (it cannot forge it).
func TestIngressPassesClientCertificate(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-Tls-Client-Cert-Info"))
	}))
	defer backend.Close()
	svc := &api.Service{ID: "s1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web", Labels: map[string]string{
		"traefik.http.routers.web.rule":                                           "PathPrefix(`/`)",
		"traefik.http.routers.web.tls":                                            "true",
		"traefik.http.routers.web.middlewares":                                    "mtls",
		"traefik.http.middlewares.mtls.passtlsclientcert.info.subject.commonname": "true",
		"traefik.http.services.web.loadbalancer.server.port":                      "80",
	}}}
	serverCert, serverLeaf := testutil.SelfSignedCert(t, "127.0.0.1")
	caCert, clientCert := clientCertificate(t, "alice")
	cas := x509.NewCertPool()
	cas.AddCert(caCert)
	roots := x509.NewCertPool()
	roots.AddCert(serverLeaf)
	withIngress(t, IngressConfig{TLSAddr: "x", Certificates: []tls.Certificate{serverCert}, ClientCAs: cas}, svc,
		runningTask(backend.Listener.Addr().String()), func(in *nodeIngress) {
			for _, c := range []struct {
				certs []tls.Certificate
				want  string
			}{{[]tls.Certificate{clientCert}, url.QueryEscape(`Subject="CN=alice"`)}, {nil, ""}} {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: c.certs}}
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + in.tlsAddr + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				tr.CloseIdleConnections()
				if resp.StatusCode != http.StatusOK || string(body) != c.want {
					t.Errorf("client certificates %d: %s %q, want 200 %q", len(c.certs), resp.Status, body, c.want)
				}
			}
		})
}

// --ingress-tls-client-ca is the default TLS options' clientAuth: a
// file whose default entry sets clientAuth too is refused at start.
func TestIngressClientCAsAndTLSOptionsConflict(t *testing.T) {
	caCert, _ := clientCertificate(t, "alice")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	opts, err := ingress.ParseTLSOptions([]byte("tls:\n  options:\n    default:\n      clientAuth:\n        caFiles: [ca.pem]\n"),
		func(string) ([]byte, error) { return caPEM, nil })
	if err != nil {
		t.Fatal(err)
	}
	cas := x509.NewCertPool()
	cas.AddCert(caCert)
	var wg sync.WaitGroup
	in, err := startIngress(IngressConfig{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", ClientCAs: cas, TLSOptions: opts}, nil, &wg, quiet)
	if err == nil {
		_ = in.stop(context.Background())
		wg.Wait()
		t.Fatal("started with both")
	}
	if !strings.Contains(err.Error(), "not both") {
		t.Errorf("error %v, want one saying not both", err)
	}
}

// clientCertificate makes a CA and a client certificate named cn it
// signed.
func clientCertificate(t *testing.T, cn string) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
