package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// runBin runs a binary with env added to a clean environment (no
// SHOAL_*/DOCKER_* of the machine's), and returns its output and exit
// code.
func runBin(t *testing.T, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHOAL_") && !strings.HasPrefix(kv, "DOCKER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return out.String(), errOut.String(), code
}

// Remote use: a manager serves its API and the Docker Engine API on TCP
// to operator certificates only. An operator certificate issued through
// the API socket works for the shoal CLI (flags, environment, context)
// and the real docker CLI; no certificate, a worker node's, another
// CA's, and plain HTTP get nothing.
func TestRemoteAPIWithOperatorCertificates(t *testing.T) {
	d, c := devClusterWith(t, daemon.DevConfig{APIAddr: "127.0.0.1:0", DockerAPISocket: "tcp://127.0.0.1:0", AgentListen: "127.0.0.1:0"})
	apiAddr, dockerAddr := d.APIAddr(), d.DockerAPIAddr()
	if apiAddr == "" || dockerAddr == "" {
		t.Fatalf("TCP listeners: API %q, Docker API %q", apiAddr, dockerAddr)
	}
	ctx := ctxTimeout(t, 2*time.Minute)
	if _, err := c.ServiceCreate(ctx, processSpec("remote-web", 1, testApp)); err != nil {
		t.Fatal(err)
	}

	// Issued over the 0600 socket, the key made by the CLI.
	certs := filepath.Join(t.TempDir(), "alice")
	out, errOut, code := runBin(t, nil, shoalBin, "-H", d.Host(), "swarm", "ca", "--issue-client", "alice", "--out", certs)
	if code != 0 {
		t.Fatalf("issue-client: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		fi, err := os.Stat(filepath.Join(certs, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi, err)
		}
	}
	tcp := "tcp://" + apiAddr
	wantLs := func(what string, env []string, args ...string) {
		t.Helper()
		out, errOut, code := runBin(t, env, shoalBin, append(args, "service", "ls", "--format", "{{.Name}} {{.Replicas}}")...)
		if code != 0 || !strings.Contains(out, "remote-web") {
			t.Errorf("%s: exit %d\n%s%s", what, code, out, errOut)
		}
	}
	wantLs("flags", nil, "-H", tcp, "--tlsverify", "--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "cert.pem"), "--tlskey", filepath.Join(certs, "key.pem"))
	wantLs("env", []string{"SHOAL_HOST=" + tcp, "SHOAL_CERT_PATH=" + certs, "SHOAL_TLS_VERIFY=1"})
	cfg := []string{"SHOAL_CONFIG=" + t.TempDir()}
	if out, errOut, code := runBin(t, cfg, shoalBin, "context", "create", "prod", "--host", tcp, "--cert-path", certs); code != 0 {
		t.Fatalf("context create: exit %d\n%s%s", code, out, errOut)
	}
	wantLs("--context", cfg, "--context", "prod")
	if _, _, code := runBin(t, cfg, shoalBin, "context", "use", "prod"); code != 0 {
		t.Fatal("context use failed")
	}
	wantLs("current context", cfg)
	// A write, through the TCP listener.
	if out, errOut, code := runBin(t, cfg, shoalBin, "service", "scale", "remote-web=2", "--detach"); code != 0 {
		t.Errorf("service scale over TCP: exit %d\n%s%s", code, out, errOut)
	}

	// tcp:// without a certificate: a clear error, no request.
	out, errOut, code = runBin(t, nil, shoalBin, "-H", tcp, "service", "ls")
	if code != 1 || !strings.Contains(errOut, "SHOAL_CERT_PATH") || !strings.Contains(errOut, "--tlsverify") {
		t.Errorf("no certificate: exit %d\n%s%s", code, out, errOut)
	}

	// The real docker CLI, with docker's own TLS flags and variables.
	if docker, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("SHOAL_REQUIRE_DOCKER") == "1" {
			t.Fatalf("the docker CLI is required: %v", err)
		}
		t.Logf("no docker CLI: its part is skipped (%v)", err)
	} else {
		denv := []string{"DOCKER_CONFIG=" + t.TempDir()}
		out, errOut, code := runBin(t, denv, docker, "--tlsverify", "--tlscacert", filepath.Join(certs, "ca.pem"), "--tlscert", filepath.Join(certs, "cert.pem"),
			"--tlskey", filepath.Join(certs, "key.pem"), "-H", "tcp://"+dockerAddr, "service", "ls", "--format", "{{.Name}}")
		if code != 0 || !strings.Contains(out, "remote-web") {
			t.Errorf("docker --tlsverify service ls: exit %d\n%s%s", code, out, errOut)
		}
		denv = append(denv, "DOCKER_CERT_PATH="+certs, "DOCKER_TLS_VERIFY=1", "DOCKER_HOST=tcp://"+dockerAddr)
		out, errOut, code = runBin(t, denv, docker, "node", "ls", "--format", "{{.Self}} {{.Status}}")
		if code != 0 || strings.TrimSpace(out) != "true Ready" {
			t.Errorf("DOCKER_CERT_PATH docker node ls: exit %d\n%s%s", code, out, errOut)
		}
		// Without a certificate the docker CLI gets nothing either.
		out, errOut, code = runBin(t, []string{"DOCKER_CONFIG=" + t.TempDir()}, docker, "-H", "tcp://"+dockerAddr, "service", "ls")
		if code == 0 || strings.Contains(out, "remote-web") {
			t.Errorf("docker without TLS: exit %d\n%s%s", code, out, errOut)
		}
	}

	// Handshakes that must fail, on both listeners.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(certs, "ca.pem"))
	pool.AppendCertsFromPEM(caPEM)
	worker := workerCert(t, d)
	other, err := ca.NewRootCA("another-cluster", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign := operatorPair(t, other, "mallory")
	operator, err := tls.LoadX509KeyPair(filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{apiAddr, dockerAddr} {
		if err := tlsGet(addr, pool, &operator); err != nil {
			t.Errorf("%s: operator refused: %v", addr, err)
		}
		for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "worker node": &worker, "another CA": &foreign} {
			if err := tlsGet(addr, pool, cert); err == nil {
				t.Errorf("%s: %s answered", addr, name)
			}
		}
		// Plain HTTP: crypto/tls answers a fixed 400, nothing of the API.
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(bufio.NewReader(conn))
		conn.Close()
		if strings.Contains(string(b), "remote-web") || strings.Contains(string(b), " 200 ") {
			t.Errorf("%s: plain HTTP got %q", addr, b)
		}
		// More idle connections than the listener holds (512), none of
		// them starting a handshake: an operator still gets in (they
		// hold at most the unfinished handshakes' places, the oldest
		// closed to make room).
		var idle []net.Conn
		for range 600 {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("idle connection %d: %v", len(idle), err)
			}
			idle = append(idle, c)
		}
		if err := tlsGet(addr, pool, &operator); err != nil {
			t.Errorf("%s: operator kept out by 600 idle connections: %v", addr, err)
		}
		for _, c := range idle {
			c.Close()
		}
	}
}

// tlsGet does one GET /v1/info (or /_ping) over TLS with cert, reading
// the answer: a refused client certificate shows at the first read in
// TLS 1.3.
func tlsGet(addr string, pool *x509.CertPool, cert *tls.Certificate) error {
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	_, err = bufio.NewReader(conn).ReadString('\n')
	return err
}

// workerCert joins a worker to d and returns its node certificate.
func workerCert(t *testing.T, d *daemon.Dev) tls.Certificate {
	t.Helper()
	dir := t.TempDir()
	a, err := daemon.StartAgent(ctxTimeout(t, time.Minute), daemon.AgentConfig{DataDir: dir, Manager: d.AgentAddr(), Token: d.JoinToken(),
		Addr: "127.0.0.2", Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, ca.NodeCertFile), filepath.Join(dir, ca.NodeKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// operatorPair issues an operator certificate of root.
func operatorPair(t *testing.T, root *ca.RootCA, name string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM := testutil.OperatorCert(t, root, name)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}
