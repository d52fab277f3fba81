package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ingress"
)

// A promoted node's manager serves the ingress its agent did: every
// IngressConfig setting (but Secrets, which the manager reads from its
// store) reaches the DevConfig field of the same name.
func TestManagerConfigKeepsTheIngressSettings(t *testing.T) {
	ic := IngressConfig{Addr: "127.0.0.2:80", AccessLog: true, RequireEnable: true, MaxBodyBytes: 1, MaxConns: 2,
		IdleTimeout: time.Second, ResponseHeaderTimeout: time.Minute, AllowEncodedSlash: true, AllowEncodedBackslash: true,
		TLSAddr: "127.0.0.2:443", Certificates: []tls.Certificate{{}}, ClientCAs: x509.NewCertPool(),
		TLSOptions: ingress.DefaultTLSOptions(), TLSFiles: ingress.TLSFiles{Options: "tls.yml"}, TLSReload: make(chan struct{}),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	dc, err := ManagerConfig(AgentConfig{ListenAddr: "127.0.0.2:4243", Ingress: ic}, "127.0.0.2", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	iv, dv := reflect.ValueOf(ic), reflect.ValueOf(dc)
	for i := range iv.NumField() {
		name := iv.Type().Field(i).Name
		if name == "Secrets" {
			continue
		}
		got := dv.FieldByName("Ingress" + name)
		if !got.IsValid() {
			t.Errorf("DevConfig has no Ingress%s", name)
			continue
		}
		if want := iv.Field(i); want.IsZero() {
			t.Fatalf("the test sets no %s", name)
		} else if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("Ingress%s = %v, want the agent's %v", name, got.Interface(), want.Interface())
		}
	}
}
