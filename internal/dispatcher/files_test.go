package dispatcher_test

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

// taskWith is newTask naming configs and secrets (by name and ID).
func taskWith(id, node string, configs, secrets []string) *api.Task {
	tk := newTask(id, node)
	c := &tk.Spec.ContainerSpec
	for _, n := range configs {
		c.Configs = append(c.Configs, api.ConfigReference{ConfigName: n, ConfigID: "cfg-" + n})
	}
	for _, n := range secrets {
		c.Secrets = append(c.Secrets, api.SecretReference{SecretName: n, SecretID: "sec-" + n})
	}
	return tk
}

// sealedEnv is an env whose dispatcher opens secrets with a key, and a
// store holding configs a, b and secrets x, y sealed with it.
func sealedEnv(t *testing.T) (*env, *secretkey.Key) {
	t.Helper()
	e := newEnv(t, time.Hour)
	key, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	e.d.SecretKey = key
	var ops []state.Op
	for _, n := range []string{"a", "b"} {
		ops = append(ops, state.Op{Kind: state.OpCreateConfig, Config: &api.Config{ID: "cfg-" + n, Spec: api.ConfigSpec{Name: n, Data: []byte("config " + n)}}})
	}
	for _, n := range []string{"x", "y"} {
		sealed, err := key.Seal([]byte("secret "+n), secretkey.SecretContext("sec-"+n))
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, state.Op{Kind: state.OpCreateSecret, Secret: &api.Secret{ID: "sec-" + n, Spec: api.SecretSpec{Name: n, Data: sealed}}})
	}
	e.must(ops...)
	return e, key
}

// files lists an assignment's configs and secrets as "c:NAME=DATA" and
// "s:NAME=DATA", sorted.
func files(a api.Assignments) string {
	var out []string
	for _, c := range a.Configs {
		out = append(out, "c:"+c.Spec.Name+"="+string(c.Spec.Data))
	}
	for _, s := range a.Secrets {
		out = append(out, "s:"+s.Spec.Name+"="+string(s.Spec.Data))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestAssignmentsCarryTheFilesOfTheNodesTasksOnly(t *testing.T) {
	e, _ := sealedEnv(t)
	e.must(
		createTask(taskWith("t1", "n1", []string{"a"}, []string{"x"})), assign("t1", "n1"),
		createTask(taskWith("t2", "n1", []string{"a"}, nil)), assign("t2", "n1"),
		createTask(taskWith("t3", "n2", []string{"b"}, []string{"y"})), assign("t3", "n2"),
		// Ended tasks need nothing.
		createTask(taskWith("t4", "n1", nil, []string{"y"})), assign("t4", "n1"), report("t4", api.TaskStateComplete),
	)
	e.start()
	s1 := e.register("n1", "10.0.0.1")
	a := assignments(t, s1)
	if got, want := files(a), "c:a=config a s:x=secret x"; got != want {
		t.Fatalf("n1's full assignment files %q, want %q (decrypted, each once)", got, want)
	}
	s2 := e.register("n2", "10.0.0.2")
	if got, want := files(assignments(t, s2)), "c:b=config b s:y=secret y"; got != want {
		t.Fatalf("n2's files %q, want %q", got, want)
	}

	// A new task naming what n1 has: no files again. One naming something
	// new: that only.
	e.must(createTask(taskWith("t5", "n1", []string{"a", "b"}, []string{"x"})), assign("t5", "n1"))
	if a := assignments(t, s1); !sameIDs(a.Tasks, "t5") || files(a) != "c:b=config b" {
		t.Fatalf("incremental assignment tasks %v files %q, want t5 with config b only", ids(a.Tasks), files(a))
	}
	// A status change of a task resends nothing.
	e.must(report("t5", api.TaskStateRunning))
	if a := assignments(t, s1); files(a) != "" {
		t.Fatalf("status change resent files %q", files(a))
	}
	// Secrets stored are still sealed: the dispatcher opened a copy.
	if s := e.store.Read().Secret("sec-x"); bytes.Contains(s.Spec.Data, []byte("secret x")) {
		t.Fatal("the stored secret was decrypted in place")
	}
}

func TestFilesAreSentAgainAfterAFullAssignment(t *testing.T) {
	e, _ := sealedEnv(t)
	e.must(createTask(taskWith("t1", "n1", []string{"a"}, []string{"x"})), assign("t1", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	if got := files(assignments(t, s)); got != "c:a=config a s:x=secret x" {
		t.Fatalf("first files %q", got)
	}
	// A snapshot restore replaces the state: the next assignment is full,
	// with the files again.
	f := state.NewFSM(e.store)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf sinkBuf
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	a := assignments(t, s)
	if !a.Full || files(a) != "c:a=config a s:x=secret x" {
		t.Fatalf("after a restore: full=%v files %q", a.Full, files(a))
	}
	// So does a new session.
	s.Close()
	s2 := e.register("n1", "10.0.0.1")
	if a := assignments(t, s2); !a.Full || files(a) != "c:a=config a s:x=secret x" {
		t.Fatalf("new session: full=%v files %q", a.Full, files(a))
	}
}

func TestSecretThatDoesNotOpenIsNotSent(t *testing.T) {
	e, _ := sealedEnv(t)
	other, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	e.d.SecretKey = other
	e.must(createTask(taskWith("t1", "n1", []string{"a"}, []string{"x"})), assign("t1", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	if got := files(assignments(t, s)); got != "c:a=config a" {
		t.Fatalf("files %q: a secret that does not open must not be sent", got)
	}
}

// A reference whose recorded ID is stale (the object was made again under
// the same name) finds the object by name.
func TestFilesFoundByNameWhenTheIDIsStale(t *testing.T) {
	e, _ := sealedEnv(t)
	tk := taskWith("t1", "n1", []string{"a"}, nil)
	tk.Spec.ContainerSpec.Configs[0].ConfigID = "gone"
	e.must(createTask(tk), assign("t1", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	if got := files(assignments(t, s)); got != "c:a=config a" {
		t.Fatalf("files %q", got)
	}
}

type sinkBuf struct{ bytes.Buffer }

func (*sinkBuf) ID() string    { return "buf" }
func (*sinkBuf) Close() error  { return nil }
func (*sinkBuf) Cancel() error { return nil }
