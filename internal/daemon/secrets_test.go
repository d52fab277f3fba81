package daemon

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/testutil"
)

// wantSecretsDirRefused checks the error of a node that must not start.
func wantSecretsDirRefused(t *testing.T, err error, dir string) {
	t.Helper()
	want := dir + " is owned by uid 65534 with mode 0777, not by this user (uid 0) with mode 0700: another user could read or swap what shoal writes there; " +
		"remove it (rm -rf " + dir + ") so that shoal makes it anew, or choose another folder with --secrets-dir"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start with a secrets folder of another user: %v; want refused with %q", err, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the other user's folder got %v", entries)
	}
}

func TestDevRefusesSecretsDirOfAnotherUser(t *testing.T) {
	dir := testutil.OthersShmDir(t)
	d, err := StartDev(testCtx(t), DevConfig{DataDir: t.TempDir(), Logger: quiet, SecretsDir: dir})
	if err == nil {
		d.Close()
	}
	wantSecretsDirRefused(t, err, dir)
}

func TestAgentRefusesSecretsDirOfAnotherUser(t *testing.T) {
	dir := testutil.OthersShmDir(t)
	// The node has its certificate: the agent goes straight to its runtimes.
	dataDir := t.TempDir()
	root, err := ca.NewRootCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, _ := ca.NewKeyAndCSR()
	certPEM, err := root.Issue(csrPEM, api.NewID(), ca.RoleWorker, ca.DefaultCertExpiry, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.SaveNodeIdentity(dataDir, certPEM, keyPEM, root.CertPEM); err != nil {
		t.Fatal(err)
	}
	a, err := StartAgent(testCtx(t), AgentConfig{DataDir: dataDir, Manager: "127.0.0.1:1",
		Addr: "127.0.0.1", Logger: quiet, SecretsDir: dir})
	if err == nil {
		a.Close()
	}
	wantSecretsDirRefused(t, err, dir)
}
