package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
)

// join-token prints the command that joins a worker, as docker's does;
// -q only the token. This cluster serves no agents, which it says.
func TestSwarmJoinToken(t *testing.T) {
	tok := testDev.JoinToken()
	if !strings.HasPrefix(tok, "SHOALTKN-1-") {
		t.Fatalf("join token %q", tok)
	}
	r := mustShoal(t, "swarm", "join-token", "worker")
	if !strings.Contains(r.stdout, "To add a worker to this cluster, run the following command:") ||
		!strings.Contains(r.stdout, "SHOAL_JOIN_TOKEN="+tok+" shoal agent --manager MANAGER:PORT\n") ||
		!strings.Contains(r.stdout, "--listen-agents") {
		t.Errorf("join-token worker: %s", r)
	}
	if r := mustShoal(t, "swarm", "join-token", "-q", "worker"); r.stdout != tok+"\n" {
		t.Errorf("join-token -q worker: %s", r)
	}
	mtok := mustShoal(t, "swarm", "join-token", "-q", "manager").stdout
	if !strings.HasPrefix(mtok, "SHOALTKN-1-") || mtok == tok+"\n" || mtok[:len("SHOALTKN-1-")+50] != tok[:len("SHOALTKN-1-")+50] {
		t.Errorf("manager token %q: want one of the same CA as the worker token %q, with another secret", mtok, tok)
	}
	if r := mustShoal(t, "swarm", "join-token", "manager"); !strings.Contains(r.stdout, "SHOAL_JOIN_TOKEN="+strings.TrimSpace(mtok)+" shoal manager --join MANAGER:PORT") {
		t.Errorf("join-token manager: %s", r)
	}
	if r := shoal(t, "swarm", "join-token", "admin"); r.code != ExitUsage || !strings.Contains(r.stderr, `unknown role "admin"`) {
		t.Errorf("join-token admin: %s", r)
	}
}

// shoal agent refuses to start without what it needs, as a usage error.
func TestAgentUsageErrors(t *testing.T) {
	t.Setenv("SHOAL_JOIN_TOKEN", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no manager", []string{"agent", "--token", "x", "--data-dir", dir}, "--manager is required"},
		{"no token", []string{"agent", "--manager", "127.0.0.1:1", "--data-dir", dir}, "--token-file or SHOAL_JOIN_TOKEN is required"},
		{"bad label", []string{"agent", "--manager", "127.0.0.1:1", "--token", "x", "-l", "=v", "--data-dir", dir}, `invalid --label "=v"`},
		{"bad log level", []string{"agent", "--manager", "127.0.0.1:1", "--token", "x", "--log-level", "loud", "--data-dir", dir}, `invalid --log-level "loud"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shoalRaw(t, tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit %d saying %q: %s", ExitUsage, tc.want, r)
			}
		})
	}
	if r := shoalRaw(t, "agent", "extra"); r.code != ExitFailure || !strings.Contains(r.stderr, "shoal: 'shoal agent' accepts no arguments") {
		t.Errorf("agent with an argument: %s", r)
	}
	if r := shoalRaw(t, "agent", "--manager", "nowhere", "--token", "x", "--data-dir", dir, "--ingress", "off"); r.code != ExitFailure || !strings.Contains(r.stderr, `invalid manager address "nowhere"`) {
		t.Errorf("bad manager address: %s", r)
	}
}

// join-token --rotate gives the role a new token, says so and prints the
// command with it (-q: only the token); the other role's is unchanged.
func TestSwarmJoinTokenRotate(t *testing.T) {
	wtok := testDev.JoinToken()
	before := mustShoal(t, "swarm", "join-token", "-q", "manager").stdout
	r := mustShoal(t, "swarm", "join-token", "--rotate", "manager")
	after := mustShoal(t, "swarm", "join-token", "-q", "manager").stdout
	if after == before || !strings.HasPrefix(r.stdout, "Successfully rotated manager join token.\n\n") ||
		!strings.Contains(r.stdout, "SHOAL_JOIN_TOKEN="+strings.TrimSpace(after)+" shoal manager --join") {
		t.Errorf("join-token --rotate manager: %s (token before %q, after %q)", r, before, after)
	}
	q := mustShoal(t, "swarm", "join-token", "--rotate", "-q", "manager").stdout
	if q == after || !strings.HasPrefix(q, "SHOALTKN-1-") || strings.Count(q, "\n") != 1 {
		t.Errorf("join-token --rotate -q manager: %q", q)
	}
	if testDev.JoinToken() != wtok {
		t.Error("rotating the manager token changed the worker token")
	}
}

// swarm update --cert-expiry changes the cluster's certificate life and
// says "Swarm updated.", as docker's; a life under an hour is a usage
// error that changes nothing.
func TestSwarmUpdateCertExpiry(t *testing.T) {
	expiry := func() time.Duration {
		sw, err := testClient(t).SwarmInspect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return sw.Spec.CAConfig.NodeCertExpiry
	}
	was := expiry()
	defer mustShoal(t, "swarm", "update", "--cert-expiry", was.String())
	if r := mustShoal(t, "swarm", "update", "--cert-expiry", "720h"); r.stdout != "Swarm updated.\n" {
		t.Errorf("swarm update: %s", r)
	}
	if got := expiry(); got != 720*time.Hour {
		t.Fatalf("expiry after the update %s, want 720h", got)
	}
	if r := shoal(t, "swarm", "update", "--cert-expiry", "10m"); r.code != ExitUsage || !strings.Contains(r.stderr, "invalid --cert-expiry: certificate expiry 10m0s is under the minimum 1h0m0s") {
		t.Errorf("swarm update --cert-expiry 10m: %s", r)
	}
	if got := expiry(); got != 720*time.Hour {
		t.Fatalf("expiry after a refused update %s, want 720h", got)
	}
}

// swarm ca prints the root CA certificate the join tokens' digest names,
// as docker's. (--rotate: TestCARotationKeepsNodesConnected, daemon.)
func TestSwarmCA(t *testing.T) {
	r := mustShoal(t, "swarm", "ca")
	root, err := ca.ParseRootCert([]byte(r.stdout))
	if err != nil {
		t.Fatalf("swarm ca: %v: %s", err, r)
	}
	tok, err := ca.ParseToken(testDev.JoinToken())
	if err != nil {
		t.Fatal(err)
	}
	if root.Digest() != tok.Digest {
		t.Fatalf("swarm ca printed a root of digest %s, the join token names %s", root.Digest(), tok.Digest)
	}
	if r := shoal(t, "swarm", "ca", "-q"); r.code != ExitUsage || !strings.Contains(r.stderr, "--detach and --quiet go with --rotate") {
		t.Errorf("swarm ca -q: %s", r)
	}
}
