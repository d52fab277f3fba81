// Package jepsen is a Jepsen-style test of the managers' Raft group: three
// real `shoal manager` processes on loopback addresses take concurrent
// creates, updates and removes of configs and services through every
// manager's API while the test SIGKILLs the leader again and again
// (restarting it after) and, as root, cuts one manager off the others
// with iptables and heals it. Every operation is recorded with its start,
// end and result, and the history is checked for linearizability with
// porcupine; then the cluster must converge (one leader, the same state
// on every manager), hold no duplicate, and run exactly one task per
// service, with no task process left behind.
//
// Settings (environment):
//
//	SHOAL_JEPSEN_KILLS  leader kills (default 3: a short run for go test ./...)
//	SHOAL_JEPSEN_SEED   the seed of the run's random choices (printed)
package jepsen

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/testutil/mgrproc"
)

var shoalBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-jepsen-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if shoalBin, err = mgrproc.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type settings struct {
	seed  int64
	kills int
}

func readSettings(t *testing.T) settings {
	s := settings{seed: time.Now().UnixNano(), kills: 3}
	if v := os.Getenv("SHOAL_JEPSEN_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("SHOAL_JEPSEN_SEED=%q: want an integer", v)
		}
		s.seed = n
	}
	if v := os.Getenv("SHOAL_JEPSEN_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("SHOAL_JEPSEN_KILLS=%q: want a count", v)
		}
		s.kills = n
	}
	return s
}

// The keys the clients work on: configs are cheap, services run a task.
var (
	configKeys  = []string{"jcfg-0", "jcfg-1", "jcfg-2", "jcfg-3", "jcfg-4", "jcfg-5", "jcfg-6", "jcfg-7"}
	serviceKeys = []string{"jsvc-0", "jsvc-1", "jsvc-2", "jsvc-3"}
)

const clients = 4

func TestLinearizableUnderLeaderKillsAndPartitions(t *testing.T) {
	s := readSettings(t)
	t.Logf("seed %d (rerun with SHOAL_JEPSEN_SEED=%d), %d leader kills", s.seed, s.seed, s.kills)
	partitions := os.Geteuid() == 0
	if !partitions {
		if os.Getenv(testutil.EnvRequireDocker) == "1" {
			t.Fatalf("not root (%s=1): the partition part needs root for iptables", testutil.EnvRequireDocker)
		}
		t.Log("not root: no partitions (they need iptables); leader kills only")
	}
	rng := rand.New(rand.NewSource(s.seed))
	marker := fmt.Sprintf("SHOAL_JEPSEN_RUN=%d-%d", os.Getpid(), rng.Int63())
	// Registered first, so it runs last: after the managers are killed, no
	// task process of this run is left.
	t.Cleanup(func() { killMarked(t, marker) })

	cl := mgrproc.Start(t, shoalBin, 3, mgrproc.Options{Partitions: partitions})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+time.Duration(s.kills)*20*time.Second)
	defer cancel()
	w := &workload{cl: cl, marker: marker, h: &history{t0: time.Now()}, stop: make(chan struct{})}

	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		crng := rand.New(rand.NewSource(s.seed + int64(c) + 1))
		go func() {
			defer wg.Done()
			w.run(ctx, t, c, crng)
		}()
	}
	nemesisErr := nemesis(ctx, t, cl, rng, s.kills, partitions)
	close(w.stop)
	wg.Wait()
	if nemesisErr != nil {
		t.Errorf("nemesis: %v\n%s", nemesisErr, cl.Logs(30))
	}

	// Every manager back and reachable; the cluster converges.
	cl.HealAll()
	for _, m := range cl.Managers {
		if !m.Running() {
			if err := m.Restart(); err != nil {
				t.Fatal(err)
			}
		}
	}
	leader := converge(ctx, t, cl)
	if leader == nil {
		return
	}
	w.finalReads(ctx, t, leader)

	ops := w.h.snapshot()
	checkLinearizable(t, ops, w.h.t0, s.seed)
	checkValuesWritten(t, ops)
	checkTasks(ctx, t, cl, leader, marker)
	removeAll(ctx, t, leader, marker)
	counts := map[result]int{}
	for _, o := range ops {
		counts[o.Out.Res]++
	}
	t.Logf("%d operations: %d ok, %d exists, %d notfound, %d unknown", len(ops), counts[resOK], counts[resExists], counts[resNotFound], counts[resUnknown])
}

// nemesis kills the leader with SIGKILL kills times (restarting it after
// a pause), then, with partitions, cuts the leader off the others and
// heals it, and cuts a follower off and heals it.
func nemesis(ctx context.Context, t *testing.T, cl *mgrproc.Cluster, rng *rand.Rand, kills int, partitions bool) error {
	leader := func() (*mgrproc.Manager, error) {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return cl.Leader(lctx)
	}
	pause := func(min, max time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(min + time.Duration(rng.Int63n(int64(max-min)))):
		}
	}
	pause(time.Second, 2*time.Second)
	for k := range kills {
		l, err := leader()
		if err != nil {
			return fmt.Errorf("before kill %d: %w", k+1, err)
		}
		t.Logf("kill %d: SIGKILL the leader, manager %d", k+1, l.Index+1)
		l.Kill()
		pause(300*time.Millisecond, 2*time.Second)
		if err := l.Restart(); err != nil {
			return err
		}
		pause(500*time.Millisecond, 1500*time.Millisecond)
	}
	if !partitions {
		return nil
	}
	l, err := leader()
	if err != nil {
		return fmt.Errorf("before the partition: %w", err)
	}
	for _, victim := range []int{l.Index, (l.Index + 1 + rng.Intn(2)) % 3} {
		t.Logf("partition: manager %d cut off the others", victim+1)
		if err := cl.Isolate(victim); err != nil {
			return err
		}
		if victim == l.Index {
			// The others elect a new leader: the cut is real.
			nl, err := leader()
			if err != nil {
				return fmt.Errorf("with the leader cut off: %w", err)
			}
			t.Logf("manager %d leads the majority side", nl.Index+1)
		}
		pause(4*time.Second, 7*time.Second)
		if err := cl.Heal(victim); err != nil {
			return err
		}
		t.Logf("partition healed")
		if _, err := leader(); err != nil {
			return fmt.Errorf("after healing manager %d: %w", victim+1, err)
		}
		pause(time.Second, 2*time.Second)
	}
	return nil
}

// checkLinearizable checks the history with porcupine; on an anomaly it
// names the key, prints its history and writes porcupine's visualization.
func checkLinearizable(t *testing.T, ops []op, t0 time.Time, seed int64) {
	model := registerModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, porcupineOps(ops, t0), 3*time.Minute)
	switch res {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		t.Errorf("linearizability check timed out (inconclusive) over %d operations, seed %d", len(ops), seed)
		return
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("shoal-jepsen-%d.html", seed))
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		t.Logf("visualization: %v", err)
	}
	for _, k := range append(append([]string(nil), configKeys...), serviceKeys...) {
		var mine []op
		for _, o := range ops {
			if o.In.Key == k {
				mine = append(mine, o)
			}
		}
		if porcupine.CheckOperations(model, porcupineOps(mine, t0)) {
			continue
		}
		// The shortest failing prefix (in call order) ends near the
		// anomaly: print its last operations.
		sort.Slice(mine, func(i, j int) bool { return mine[i].Start.Before(mine[j].Start) })
		n := sort.Search(len(mine), func(n int) bool { return !porcupine.CheckOperations(model, porcupineOps(mine[:n+1], t0)) }) + 1
		from := max(0, n-25)
		t.Errorf("history of %s is not linearizable (seed %d; visualization %s); it fails from operation %d of %d, the last ones:\n%s",
			k, seed, path, n, len(mine), describeKey(mine[from:n], k, t0))
	}
}

// checkValuesWritten: every value the cluster holds was written by some
// operation (acknowledged or not), so nothing came from nowhere.
func checkValuesWritten(t *testing.T, ops []op) {
	written := map[string]bool{}
	for _, o := range ops {
		if o.In.Op == opCreate || o.In.Op == opUpdate {
			written[o.In.Value] = true
		}
	}
	for _, o := range ops {
		if o.In.Op == opRead && o.Out.Res == resOK && !written[o.Out.Value] {
			t.Errorf("%s holds %q, which no operation wrote", o.In.Key, o.Out.Value)
		}
	}
}
