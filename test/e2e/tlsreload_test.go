package e2e

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/testutil"
)

// `shoal dev` with --ingress-tls-options survives SIGHUP (which, without
// the flag, would end it), and reads the file again when it changes:
// new handshakes get the new minVersion, and a file that no longer
// loads leaves it in force.
func TestDevReloadsTLSOptions(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, _ := testutil.SelfSignedPEM(t, "a.example")
	certFile, optsFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "tls.yml")
	writeFile := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(certFile, string(certPEM)+string(keyPEM))
	writeFile(optsFile, "tls:\n  options:\n    default:\n      minVersion: VersionTLS12\n")
	data := filepath.Join(dir, "data")
	p, lines := startNodeProc(t, "shoal dev", data, "try:", "dev", "--data-dir", data, "--log-level", "error",
		"--publish-addr", "off", "--docker=false", "--docker-api", "off", "--ingress", "127.0.0.1:0",
		"--ingress-tls", "127.0.0.1:0", "--ingress-cert", certFile, "--ingress-tls-options", optsFile)
	t.Cleanup(func() { p.signal(syscall.SIGTERM) })
	go func() {
		for range p.lines { // keep its output flowing
		}
	}()
	addr := strings.TrimPrefix(strings.Fields(field(t, lines, "ingress TLS"))[0], "https://")
	tls12 := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, ServerName: "a.example", MaxVersion: tls.VersionTLS12}) //nolint:gosec // the server's versions are tested
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := tls12(); err != nil {
		t.Fatalf("TLS 1.2 at start: %v", err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a hangup that ended it would have by now
	select {
	case <-p.exited:
		t.Fatal("shoal dev with --ingress-tls-options exited on SIGHUP")
	default:
	}
	if err := tls12(); err != nil {
		t.Fatalf("TLS 1.2 after SIGHUP with the file unchanged: %v", err)
	}

	writeFile(optsFile, "tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n")
	deadline := time.Now().Add(30 * time.Second)
	for tls12() == nil {
		if time.Now().After(deadline) {
			t.Fatal("TLS 1.2 still taken after the file made TLS 1.3 the minimum")
		}
		time.Sleep(20 * time.Millisecond)
	}

	writeFile(optsFile, "tls:\n  options:\n    default:\n      minVersion: TLS9\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past the watch's delay: both have read the bad file
	if err := tls12(); err == nil {
		t.Error("a bad file undid the options in force: TLS 1.2 taken again")
	}
	select {
	case <-p.exited:
		t.Fatal("shoal dev exited on a bad TLS options file")
	default:
	}
}
