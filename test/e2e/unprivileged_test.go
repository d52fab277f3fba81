package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil"
)

// nobody is the user the unprivileged node runs as.
const nobody = 65534

// `shoal dev` run by an ordinary user says once that networks are not
// isolated; a stack's process service on its default network only runs
// (on the host's network), and one that names a network is rejected,
// saying why.
func TestUnprivilegedStackNamingNetworksFailsSayingWhy(t *testing.T) {
	testutil.RequireRoot(t) // to become another user
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base, filepath.Dir(shoalBin)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := filepath.Join(base, "data")
	secrets, err := os.MkdirTemp("/dev/shm", "shoal-e2e-unpriv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(secrets) })
	logFile := filepath.Join(base, "dev.log")
	for _, p := range []string{dataDir, secrets} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(logFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dataDir, secrets, logFile} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", `exec "$0" "$@" 2>>"`+logFile+`"`, shoalBin, "dev", "--data-dir", dataDir,
		"--secrets-dir", secrets, "--addr", "127.0.0.1", "--ingress", "off", "--publish-addr", "off", "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Env = append(os.Environ(), "HOME="+base)
	p, _ := startNodeCmd(t, "dev", dataDir, "cluster ready", cmd)
	host := "unix://" + filepath.Join(dataDir, "shoal.sock")
	c, err := client.New(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		removeAll(t, c)
		p.signal(syscall.SIGTERM)
	})
	ctx := ctxTimeout(t, 60*time.Second)

	deploy := exec.Command(shoalBin, "--host", host, "stack", "deploy", "-d", "-c", filepath.Join("testdata", "net-unprivileged.yml"), "up")
	if out, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("stack deploy: %v\n%s", err, out)
	}
	plain := running(waitTasks(t, ctx, c, "up_plain", "plain running", nRunning(1)))[0]
	if ns, _ := os.Readlink("/proc/" + plain.Status.RuntimeID + "/ns/net"); ns != hostNetNS(t) {
		t.Errorf("plain runs in namespace %s, want the host's network", ns)
	}
	named := waitTasks(t, ctx, c, "up_named", "named rejected", func(ts []*api.Task) bool {
		return len(ts) > 0 && ts[0].Status.State == api.TaskStateRejected
	})[0]
	if e := named.Status.Err; !strings.Contains(e, "up_back") || !strings.Contains(e, "networks are not isolated") || !strings.Contains(e, "need root") {
		t.Errorf("named was rejected with %q; want the network named and why networks are off", e)
	}
	log, _ := os.ReadFile(logFile)
	if n := strings.Count(string(log), "networks are not isolated"); n != 1 {
		t.Errorf("the node said %d times that networks are not isolated, want once:\n%s", n, log)
	}
}

// hostNetNS is the test's own network namespace, the host's.
func hostNetNS(t *testing.T) string {
	t.Helper()
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
