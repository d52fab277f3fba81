// Package mgrproc runs a cluster of real `shoal manager` processes on
// loopback addresses for the tests and benchmarks that kill, restart and
// partition managers (test/jepsen, bench/).
//
// Each manager listens on its own address, 127.A.B.i (A, B random, so
// clusters of tests running at the same time do not collide), on a port
// free when the cluster starts. Its API is the unix socket in its data
// folder; its log goes to a file beside the data folder (Log tails it).
//
// Partitions: managers on one loopback device cannot be told apart by
// address (a dial from 127.A.B.1 to 127.A.B.2 leaves from 127.0.0.1), so
// with Options.Partitions (root) each manager runs in its own cgroup v2
// and Isolate drops every TCP packet that manager's processes send, with
// one iptables rule matching its cgroup. A manager that can send nothing
// can neither dial nor answer: it is cut off from the others while its
// unix socket API still answers. Everything made (rules, cgroups) is
// removed by the cleanup.
package mgrproc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil"
)

// Build builds the shoal binary into dir and returns its path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "shoal")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/shoalproject/shoal/cmd/shoal")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build shoal: %w", err)
	}
	return bin, nil
}

// readyTimeout bounds a manager's start (a joining one waits to be added
// to Raft).
const readyTimeout = 60 * time.Second

// Cluster is n managers of one cluster.
type Cluster struct {
	t        testing.TB
	bin      string
	dir      string
	id       string
	Managers []*Manager

	logLevel string
	args     []string
	secrets  string
	cg       *cgroups // nil unless Options.Partitions
	mu       sync.Mutex
	isolated map[int]bool
}

// Manager is one `shoal manager` process (or none, while killed).
type Manager struct {
	c *Cluster
	// Index is its place in Cluster.Managers.
	Index int
	// Addr is its cluster port, IP:PORT.
	Addr    string
	DataDir string
	// Host is its API address (unix socket).
	Host    string
	logPath string
	cgroup  string // absolute path of its cgroup, "" without

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Options tune a cluster.
type Options struct {
	// Partitions makes each manager run in its own cgroup so Isolate
	// works; it needs root (the caller checks).
	Partitions bool
	// LogLevel is the managers' --log-level (default warn).
	LogLevel string
	// Args are more flags of every manager (--heartbeat 1s, say).
	Args []string
}

// Start starts n managers: the first bootstraps, the others join it with
// the manager token. The cleanup kills them and removes what was made.
func Start(t testing.TB, bin string, n int, o Options) *Cluster {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, dir: t.TempDir(), id: hex.EncodeToString(b), isolated: map[int]bool{}}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	c.logLevel = o.LogLevel
	c.args = o.Args
	if o.Partitions {
		cg, err := newCgroups("shoal-mgrproc-"+c.id, n)
		if err != nil {
			t.Fatalf("mgrproc: %v", err)
		}
		c.cg = cg
		// Registered before the processes' cleanup, so it runs after it.
		t.Cleanup(func() {
			c.HealAll()
			if err := cg.remove(); err != nil {
				t.Errorf("mgrproc: %v", err)
			}
		})
	}
	// The task secrets go to a tmpfs folder of the cluster's own, not the
	// machine's default (which may be another user's).
	secrets, err := os.MkdirTemp("/dev/shm", "shoal-mgrproc-")
	if err != nil {
		t.Fatalf("mgrproc: %v", err)
	}
	c.secrets = secrets
	t.Cleanup(func() { os.RemoveAll(secrets) })
	t.Cleanup(func() {
		for _, m := range c.Managers {
			m.Kill()
		}
	})
	ipA, ipB := 100+int(b[0])%100, int(b[1])
	for i := range n {
		ip := fmt.Sprintf("127.%d.%d.%d", ipA, ipB, i+1)
		port, err := testutil.FreePort(ip)
		if err != nil {
			t.Fatalf("mgrproc: %v", err)
		}
		m := &Manager{c: c, Index: i, Addr: net.JoinHostPort(ip, fmt.Sprint(port)),
			DataDir: filepath.Join(c.dir, fmt.Sprintf("m%d", i+1)), logPath: filepath.Join(c.dir, fmt.Sprintf("m%d.log", i+1))}
		m.Host = "unix://" + filepath.Join(m.DataDir, "shoal.sock")
		if c.cg != nil {
			m.cgroup = c.cg.path(i)
		}
		c.Managers = append(c.Managers, m)
	}
	var tokenFile string
	for i, m := range c.Managers {
		var extra []string
		if i > 0 {
			extra = []string{"--join", c.Managers[0].Addr, "--token-file", tokenFile}
		}
		if err := m.start(extra...); err != nil {
			t.Fatalf("mgrproc: manager %d: %v\n%s", i+1, err, m.Log(20))
		}
		if i == 0 {
			tokenFile = filepath.Join(c.dir, "manager-token")
			if err := c.writeToken(m, tokenFile); err != nil {
				t.Fatalf("mgrproc: %v", err)
			}
		}
	}
	return c
}

// writeToken saves the manager token, as `shoal swarm join-token manager
// -q` prints it, in a 0600 file.
func (c *Cluster) writeToken(m *Manager, path string) error {
	out, err := exec.Command(c.bin, "-H", m.Host, "swarm", "join-token", "manager", "-q").Output()
	if err != nil {
		return fmt.Errorf("join-token manager: %w", err)
	}
	return os.WriteFile(path, out, 0o600)
}

// start runs the manager and waits until it says it is ready.
func (m *Manager) start(extra ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(m.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append([]string{"manager", "--data-dir", m.DataDir, "--addr", m.Addr, "--log-level", m.c.logLevel,
		"--ingress", "off", "--publish-addr", "off", "--docker=false", "--secrets-dir", m.c.secrets}, slices.Concat(m.c.args, extra)...)
	cmd := exec.Command(m.c.bin, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if m.cgroup != "" {
		fd, err := os.Open(m.cgroup)
		if err != nil {
			return err
		}
		defer fd.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "shoal manager: ready") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-done:
		return errors.New("exited before it was ready")
	case <-time.After(readyTimeout):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("not ready in time")
	}
	m.cmd, m.done = cmd, done
	return nil
}

// Restart starts a killed manager again on its data folder.
func (m *Manager) Restart() error {
	if err := m.start(); err != nil {
		return fmt.Errorf("restart manager %d: %w\n%s", m.Index+1, err, m.Log(20))
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to go (nothing when it is
// not running).
func (m *Manager) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd, m.done = nil, nil
}

// Running reports whether the process runs.
func (m *Manager) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}

// Client is an API client of this manager.
func (m *Manager) Client() *client.Client {
	c, err := client.New(m.Host)
	if err != nil {
		panic(err) // a unix socket path always parses
	}
	return c
}

// Log is the last n lines of the manager's log.
func (m *Manager) Log(n int) string {
	b, _ := os.ReadFile(m.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- manager %d (%s) log, last %d lines:\n%s", m.Index+1, m.Addr, len(lines), strings.Join(lines, "\n"))
}

// Logs is the tail of every manager's log.
func (c *Cluster) Logs(n int) string {
	var b strings.Builder
	for _, m := range c.Managers {
		b.WriteString(m.Log(n))
		b.WriteString("\n")
	}
	return b.String()
}

// Leader waits until the running managers that answer agree on one
// leader, which says it leads, and returns it.
func (c *Cluster) Leader(ctx context.Context) (*Manager, error) {
	var last string
	for {
		l, why := c.leaderNow(ctx)
		if l != nil {
			return l, nil
		}
		last = why
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no agreed leader: %s", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) leaderNow(ctx context.Context) (*Manager, string) {
	ids := map[string]*Manager{}
	leaderOf := map[int]string{}
	var leader *Manager
	for _, m := range c.Managers {
		if !m.Running() || c.Isolated(m.Index) {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := m.Client().Info(qctx)
		cancel()
		if err != nil {
			return nil, fmt.Sprintf("manager %d: %v", m.Index+1, err)
		}
		ids[info.NodeID] = m
		leaderOf[m.Index] = info.Leader
		if info.IsLeader {
			if leader != nil {
				return nil, fmt.Sprintf("managers %d and %d both say they lead", leader.Index+1, m.Index+1)
			}
			leader = m
		}
	}
	if leader == nil {
		return nil, "no manager says it leads"
	}
	for i, l := range leaderOf {
		if ids[l] != leader {
			return nil, fmt.Sprintf("manager %d names leader %q, manager %d says it leads", i+1, l, leader.Index+1)
		}
	}
	return leader, ""
}
