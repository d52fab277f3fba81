package ca

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestAPIServerResumptionChecksAgain: a resumed TLS session (1.2 and 1.3)
// is checked against the roots trusted at that handshake, not the ones
// of the session's first: once a rotation drops the root an operator
// certificate came from, its saved session no longer gets in.
func TestAPIServerResumptionChecksAgain(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			oldRoot, _ := NewRootCA("c1", time.Now())
			newRoot := mustRotate(t, oldRoot)
			var mu sync.Mutex
			st := CAState{Trust: newRoot.WithPrevious(oldRoot), Self: oldRoot, Token: oldRoot}
			s := &APIServer{NodeID: "n", Hosts: []string{"127.0.0.1"},
				State: func() CAState { mu.Lock(); defer mu.Unlock(); return st }}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello "+OperatorName(r.TLS))
			}))
			srv.TLS = s.TLSConfig()
			srv.StartTLS()
			t.Cleanup(srv.Close)

			resumed := false
			cfg := &tls.Config{RootCAs: newRoot.WithPrevious(oldRoot).Pool(), MinVersion: v, MaxVersion: v,
				Certificates:       []tls.Certificate{operatorCert(t, oldRoot, "alice")},
				ClientSessionCache: tls.NewLRUClientSessionCache(4),
				VerifyConnection: func(cs tls.ConnectionState) error {
					resumed = resumed || cs.DidResume
					return nil
				}}
			for range 2 { // the second resumes
				if body, err := get(srv, cfg); err != nil || body != "hello alice" {
					t.Fatalf("during the rotation: %q, %v", body, err)
				}
			}
			if !resumed {
				t.Fatal("no session was resumed: the test proves nothing")
			}
			mu.Lock()
			st = CAState{Trust: newRoot, Self: newRoot, Token: newRoot}
			mu.Unlock()
			if body, err := get(srv, cfg); err == nil {
				t.Fatalf("after the rotation, the old root's operator got in (resumed %v): %q", resumed, body)
			}
		})
	}
}
