package daemon

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
)

// A follower's link to the leader presents the manager's current
// certificate: once the certificate was renewed, the next request shows
// the new one, not the old until it expires.
func TestManagerLinkPresentsRenewedCertificate(t *testing.T) {
	root, err := ca.NewRootCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	self, err := ca.NewSelfCert(root, "manager0000000000000000002", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaderID, err := ca.IssueSelf(root, "manager0000000000000000001", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.TLS.PeerCertificates[0].SerialNumber.String()
		w.WriteHeader(http.StatusTeapot)
	}))
	srv.TLS = ca.ServerConfig(leaderID, false)
	// The renewed certificate is dated in the test's future: take it
	// unverified, to look at which one came.
	srv.TLS.ClientAuth, srv.TLS.VerifyConnection = tls.RequestClientCert, nil
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	l := &managerLink{d: &Dev{self: self}}
	defer l.close()
	ask := func() string {
		t.Helper()
		c, err := l.client(addr)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := self.Identity()
		_, _, _, _ = c.Renew(t.Context(), id) // any request: the answer does not matter
		select {
		case s := <-seen:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no request reached the leader")
			return ""
		}
	}
	first, _ := self.Identity()
	if got := ask(); got != first.Cert.Leaf.SerialNumber.String() {
		t.Fatalf("presented %s, want the certificate %s", got, first.Cert.Leaf.SerialNumber)
	}
	mu.Lock()
	clock = clock.Add(ca.DefaultCertExpiry * 2 / 3)
	mu.Unlock()
	renewed, _ := self.Identity()
	if renewed == first {
		t.Fatal("the certificate was not renewed")
	}
	if got := ask(); got != renewed.Cert.Leaf.SerialNumber.String() {
		t.Fatalf("presented %s after the renewal, want the renewed %s (the old was %s)", got, renewed.Cert.Leaf.SerialNumber, first.Cert.Leaf.SerialNumber)
	}
}
