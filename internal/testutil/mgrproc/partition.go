package mgrproc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroups is one cgroup v2 folder per manager, below a folder of the
// cluster's own.
type cgroups struct {
	root string // the cgroup2 mount
	rel  string // the cluster's folder, relative to root
	n    int
}

func newCgroups(name string, n int) (*cgroups, error) {
	root, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	cg := &cgroups{root: root, rel: name, n: n}
	for i := range n {
		if err := os.MkdirAll(cg.path(i), 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("make a cgroup: %w", err)
		}
	}
	return cg, nil
}

func (cg *cgroups) path(i int) string { return filepath.Join(cg.root, cg.relPath(i)) }

func (cg *cgroups) relPath(i int) string { return filepath.Join(cg.rel, fmt.Sprintf("m%d", i+1)) }

// remove removes the cgroups. The managers are gone by then; processes
// they started that outlived them (task processes) are still in their
// cgroups: it kills those first, by PID.
func (cg *cgroups) remove() error {
	var errs []error
	for i := range cg.n {
		if err := cg.empty(i); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(cg.path(i)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(filepath.Join(cg.root, cg.rel)); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host).
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == "cgroup2" {
			return fields[1], nil
		}
	}
	return "", errors.New("no cgroup2 hierarchy mounted")
}

// ruleArgs is the iptables rule that cuts manager i off: every TCP packet
// its processes send is dropped.
func (c *Cluster) ruleArgs(i int) []string {
	return []string{"OUTPUT", "-m", "cgroup", "--path", c.cg.relPath(i), "-p", "tcp",
		"-m", "comment", "--comment", "shoal-mgrproc-" + c.id, "-j", "DROP"}
}

// Isolate cuts manager i off from the others (and everyone else): its
// processes can send no TCP packet. Its API socket still answers.
func (c *Cluster) Isolate(i int) error {
	if c.cg == nil {
		return errors.New("mgrproc: partitions need Options.Partitions")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isolated[i] {
		return nil
	}
	if out, err := exec.Command("iptables", append([]string{"-w", "-I"}, c.ruleArgs(i)...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables: isolate manager %d: %v: %s", i+1, err, out)
	}
	c.isolated[i] = true
	return nil
}

// Heal removes manager i's isolation.
func (c *Cluster) Heal(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isolated[i] {
		return nil
	}
	if out, err := exec.Command("iptables", append([]string{"-w", "-D"}, c.ruleArgs(i)...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables: heal manager %d: %v: %s", i+1, err, out)
	}
	delete(c.isolated, i)
	return nil
}

// HealAll removes every isolation.
func (c *Cluster) HealAll() {
	for i := range c.Managers {
		if err := c.Heal(i); err != nil {
			c.t.Errorf("mgrproc: %v", err)
		}
	}
}

// Isolated reports whether manager i is cut off.
func (c *Cluster) Isolated(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isolated[i]
}

// empty kills the processes in cgroup i and waits until it has none.
func (cg *cgroups) empty(i int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(cg.path(i), "cgroup.procs"))
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		pids := strings.Fields(string(b))
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v still there", cg.path(i), pids)
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
