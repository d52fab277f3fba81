package daemon

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
)

// An operator certificate asked of a follower is signed there (every
// manager holds the CA key; nothing is written to Raft), so that the
// audit line names who asked: forwarded, the leader logged it as asked
// on its own API socket, its caller being the follower's certificate.
func TestIssueOperatorOnAFollowerIsLoggedThere(t *testing.T) {
	ctx := testCtx(t)
	logs := make([]*lineWaiter, 2)
	var ds []*Dev
	for i := range 2 {
		logs[i] = &lineWaiter{want: "operator certificate issued", n: 1, done: make(chan struct{})}
		addr := "127.0.0." + string(rune('1'+i))
		cfg := DevConfig{DataDir: t.TempDir(), Addr: addr, AgentListen: addr + ":0", Docker: false,
			Logger: slog.New(slog.NewTextHandler(logs[i], nil))}
		if i > 0 {
			cfg.Join, cfg.JoinToken = ds[0].AgentAddr(), ds[0].ManagerToken()
		}
		d, err := StartDev(ctx, cfg)
		if err != nil {
			t.Fatalf("manager %d: %v", i, err)
		}
		t.Cleanup(func() { d.Close() })
		ds = append(ds, d)
	}
	fi := 1
	if !ds[0].Manager().IsLeader() {
		fi = 0
	}
	c, err := client.New(ds[fi].Host())
	if err != nil {
		t.Fatal(err)
	}
	_, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IssueOperatorCert(ctx, api.OperatorCertRequest{Name: "alice", CSR: string(csr)}); err != nil {
		t.Fatal(err)
	}
	if got := logs[1-fi].String(); strings.Contains(got, "operator certificate issued") {
		t.Errorf("the leader logged the follower's request as its own socket's:\n%s", got)
	}
	select {
	case <-logs[fi].done:
	default:
		t.Errorf("the follower that was asked logged no issued certificate:\n%s", logs[fi].String())
	}
}
