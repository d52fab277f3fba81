package ingress_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// mtlsSet is testTLSOptions with its mtls entry trusting caPEM.
func mtlsSet(t *testing.T, caPEM []byte) *ingress.TLSOptionSet {
	t.Helper()
	set, err := ingress.ParseTLSOptions([]byte(testTLSOptions), func(name string) ([]byte, error) {
		if name != "client-ca.pem" {
			return nil, os.ErrNotExist
		}
		return caPEM, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// keepAliveGets sends one HTTP/1.1 GET per host over one connection
// and returns their statuses.
func keepAliveGets(t *testing.T, addr string, cfg *tls.Config, hosts []string, between func(i int)) []string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(c)
	var out []string
	for i, h := range hosts {
		if between != nil {
			between(i)
		}
		if _, err := fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: %s\r\n\r\n", h); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp.Status[:3])
	}
	return out
}

// A router whose options require client certificates is never reached
// over a connection negotiated under other options: not after its
// options changed while the connection was open, not when routers of
// its host disagree (the host's handshakes get default), not when its
// rule names no host (Traefik: the options then depend on the SNI).
func TestTLSOptionsRouterNotReachedUnderOtherOptions(t *testing.T) {
	_, caPEM := clientCert(t)
	cert, leaf := testutil.SelfSignedCert(t, "a.example", "both.example", "any.example")
	table, addr := serveWithOptions(t, mtlsSet(t, caPEM), []tls.Certificate{cert})
	b := startBackend(t, "a", nil)
	reset := func(ls ...string) {
		ls = append(ls, "traefik.http.services.s.loadbalancer.server.port=80")
		table.Reset([]*api.Service{service("s1", "app", labels(ls...))}, []*api.Task{task("t1", "s1", b.addr())})
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	client := func(name string, protos ...string) *tls.Config {
		if len(protos) == 0 {
			protos = []string{"http/1.1"}
		}
		return &tls.Config{RootCAs: roots, ServerName: name, NextProtos: protos}
	}

	t.Run("options changed on an open connection", func(t *testing.T) {
		reset("traefik.http.routers.a.rule=Host(`a.example`)", "traefik.http.routers.a.tls=true")
		got := keepAliveGets(t, addr, client("a.example"), []string{"a.example", "a.example"}, func(i int) {
			if i == 1 {
				reset("traefik.http.routers.a.rule=Host(`a.example`)", "traefik.http.routers.a.tls.options=mtls")
			}
		})
		if got[0] != "200" || got[1] != "421" {
			t.Errorf("statuses %v, want 200 then 421 (the connection has no client certificate)", got)
		}
		// h2: the same over one HTTP/2 connection.
		reset("traefik.http.routers.a.rule=Host(`a.example`)", "traefik.http.routers.a.tls=true")
		codes := h2Statuses(t, client("a.example", "h2"), "https://"+addr+"/x", "a.example", func() {
			reset("traefik.http.routers.a.rule=Host(`a.example`)", "traefik.http.routers.a.tls.options=mtls")
		})
		if codes[0] != 200 || codes[1] != 421 {
			t.Errorf("h2 statuses %v, want 200 then 421", codes)
		}
	})

	t.Run("conflicting options", func(t *testing.T) {
		reset("traefik.http.routers.both1.rule=Host(`both.example`)", "traefik.http.routers.both1.tls.options=legacy",
			"traefik.http.routers.both2.rule=Host(`both.example`) && Path(`/x`)", "traefik.http.routers.both2.tls.options=mtls")
		if got := keepAliveGets(t, addr, client("both.example"), []string{"both.example"}, nil); got[0] != "421" {
			t.Errorf("the mtls router of a host with conflicting options, without a client certificate: %v, want 421", got)
		}
	})

	t.Run("rule without a host", func(t *testing.T) {
		reset("traefik.http.routers.adm.rule=Path(`/x`)", "traefik.http.routers.adm.tls.options=mtls")
		if got := keepAliveGets(t, addr, client("any.example"), []string{"any.example"}, nil); got[0] != "421" {
			t.Errorf("a host-less mtls router without a client certificate: %v, want 421", got)
		}
		// HTTP/1.0 is net/http's (handoff): the same answer.
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, client("any.example"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		if _, err := io.WriteString(c, "GET /x HTTP/1.0\r\nHost: any.example\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("HTTP/1.0 (net/http) to a host-less mtls router without a client certificate: %s, want 421", resp.Status)
		}
	})
}

// h2Statuses are the statuses of two GETs of url for host over one
// HTTP/2 connection made with cfg; between runs between them.
func h2Statuses(t *testing.T, cfg *tls.Config, url, host string, between func()) []int {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testTimeout}
	var codes []int
	for i := range 2 {
		if i == 1 {
			between()
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("proto %s, want HTTP/2", resp.Proto)
		}
		codes = append(codes, resp.StatusCode)
	}
	return codes
}
