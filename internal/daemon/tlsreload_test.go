package daemon

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// A node's websecure entry point reads its TLS options file again at a
// value of TLSReload (what SIGHUP sends): new handshakes get the new
// minVersion. The watch is stopped with the ingress (goleak).
func TestIngressReloadsTLSOptionsOnKick(t *testing.T) {
	file, cfg, kick := tlsReloadConfig(t, "tls:\n  options:\n    default:\n      minVersion: VersionTLS12\n")
	var wg sync.WaitGroup
	in, err := startIngress(cfg, nil, &wg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = in.stop(context.Background())
		wg.Wait()
	}()
	tls12 := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", in.tlsAddr,
			&tls.Config{InsecureSkipVerify: true, ServerName: "a.example", MaxVersion: tls.VersionTLS12}) //nolint:gosec // the server's options are tested
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := tls12(); err != nil {
		t.Fatalf("TLS 1.2 before the reload: %v", err)
	}
	if err := os.WriteFile(file, []byte("tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kick <- struct{}{} // taken by the reloader: it reads the file before the next value
	kick <- struct{}{}
	if err := tls12(); err == nil {
		t.Error("TLS 1.2 after the reload to minVersion VersionTLS13")
	}
}

// A promoted node's manager starts its ingress with the TLS options its
// agent's had in force, not those read at the process's start: the
// reloaded ones stay when the file has since gone bad (a bad file
// changes nothing, across a promotion too).
func TestPromotedIngressKeepsTheReloadedTLSOptions(t *testing.T) {
	file, cfg, kick := tlsReloadConfig(t, "tls:\n  options:\n    default:\n      minVersion: VersionTLS12\n")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	in, err := startIngress(cfg, nil, &wg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	write("tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n")
	kick <- struct{}{}
	kick <- struct{}{}
	write("tls: [")
	next := in.tlsInForce(cfg)
	_ = in.stop(context.Background())
	manager, err := startIngress(next, nil, &wg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = manager.stop(context.Background()) }()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", manager.tlsAddr,
		&tls.Config{InsecureSkipVerify: true, ServerName: "a.example", MaxVersion: tls.VersionTLS12}) //nolint:gosec // the server's options are tested
	if err == nil {
		c.Close()
		t.Error("TLS 1.2 on the promoted node's ingress: it went back to the options read at start")
	}
}

// tlsReloadConfig is an ingress configuration with a websecure entry
// point for a.example whose TLS options come from file, written with
// data; kick is its TLSReload.
func tlsReloadConfig(t *testing.T, data string) (file string, cfg IngressConfig, kick chan struct{}) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "tls.yml")
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	files := ingress.TLSFiles{Options: file}
	set, err := files.Load()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := testutil.SelfSignedCert(t, "a.example")
	kick = make(chan struct{})
	return file, IngressConfig{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Certificates: []tls.Certificate{cert},
		TLSOptions: set, TLSFiles: files, TLSReload: kick}, kick
}
