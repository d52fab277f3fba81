package agentlink_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// FuzzAgentLinkRequests sends arbitrary bodies to the handlers that
// decode one, registration and reports, from the agent address
// 192.0.2.1 holding node A's certificate. Whatever the body: no panic; the
// answer is a success or a 4xx/503 with an {"message"} body; and the
// store never holds a node at an address other than the one the requests
// came from, nor an endpoint of a task elsewhere.
func FuzzAgentLinkRequests(f *testing.F) {
	const from = "192.0.2.1"
	e := newEnvWith(f, agentlink.RegisterLimits{PerAddr: rate.Inf, Total: rate.Inf}, 50)
	tk := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep"}})
	leaf := e.ident(nodeA).Cert.Leaf
	send := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.RemoteAddr = from + ":40000"
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w
	}
	w := send("POST", "/agent/v1/register", `{"NodeID":"`+nodeA+`","Addr":"`+from+`"}`)
	var reg struct{ SessionID string }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &reg) != nil {
		f.Fatalf("register: %d %s", w.Code, w.Body)
	}
	report := "/agent/v1/sessions/" + reg.SessionID + "/report"

	f.Add(false, `{"NodeID":"`+nodeB+`","Addr":"`+from+`","Description":{"Hostname":"h","Runtimes":["process"]}}`)
	f.Add(false, `{"NodeID":"`+nodeB+`","Addr":"127.0.0.1"}`)
	f.Add(false, `{"NodeID":"`+nodeB+`","Addr":"`+from+`","Description":{"EngineLabels":{"a":"b"}}} {}`)
	f.Add(true, `[{"TaskID":"`+tk.ID+`","Status":{"State":"running","Health":"healthy"},"Endpoints":[{"TargetPort":80,"Addr":"`+from+`:31000"}]}]`)
	f.Add(true, `[{"TaskID":"`+tk.ID+`","Status":{"State":"running"},"Endpoints":[{"TargetPort":80,"Addr":"127.0.0.1:31000"}]}]`)
	f.Add(true, `[{"TaskID":"`+tk.ID+`","Status":{"State":512,"ExitCode":-1,"Timestamp":"9999-12-31T23:59:59Z"}}]`)
	f.Add(true, `[{"TaskID":"nosuch","Status":{"State":"failed","Err":"\u0000\ud800"}}]`)
	f.Add(true, `[null, {"TaskID":""}]`)
	f.Add(true, `{"TaskID":"x"}`)
	f.Fuzz(func(t *testing.T, toReport bool, body string) {
		path := "/agent/v1/register"
		if toReport {
			path = report
		}
		w := send("POST", path, body)
		switch code := w.Code; {
		case code == 200 || code == 204:
		case code == 400 || code == 403 || code == 409 || code == 413 || code == 429 || code == 503:
			var e api.Error
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Message == "" {
				t.Fatalf("%d with body %q, want {\"message\"}", code, w.Body)
			}
		default:
			t.Fatalf("status %d for %q: %s", code, body, w.Body)
		}
		checkStore(t, e.store.Read(), from)
	})
}

// checkStore fails unless every node is at addr and every endpoint on it.
func checkStore(t *testing.T, tx *state.ReadTx, addr string) {
	t.Helper()
	for _, n := range tx.Nodes() {
		if n.Status.Addr != addr {
			t.Fatalf("node %s registered at %q", n.ID, n.Status.Addr)
		}
	}
	for _, tk := range tx.Tasks() {
		for _, ep := range tk.Endpoints {
			if host, _, err := net.SplitHostPort(ep.Addr); err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).Equal(net.ParseIP(addr)) {
				t.Fatalf("task %s has endpoint %q", tk.ID, ep.Addr)
			}
		}
	}
}
