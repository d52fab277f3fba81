package agent

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

func TestFileStoreResolvesTargetsAndModes(t *testing.T) {
	f := newFileStore("linux")
	f.apply(api.Assignments{
		Configs: []*api.Config{{ID: "c1", Spec: api.ConfigSpec{Name: "app.yml", Data: []byte("cfg")}}},
		Secrets: []*api.Secret{{ID: "s1", Spec: api.SecretSpec{Name: "db", Data: []byte("pw")}}},
	})
	tk := &api.Task{Spec: api.TaskSpec{ContainerSpec: api.ContainerSpec{
		Configs: []api.ConfigReference{
			{ConfigName: "app.yml", ConfigID: "c1"},
			{ConfigName: "app.yml", File: &api.FileTarget{Name: "etc/app.yml", Mode: 0o600}},
			{ConfigName: "app.yml", ConfigID: "stale", File: &api.FileTarget{Name: "/opt/app.yml", UID: "10", GID: "20"}},
		},
		Secrets: []api.SecretReference{
			{SecretName: "db", SecretID: "s1"},
			{SecretName: "db", File: &api.FileTarget{Name: "db.pw", Mode: 0o400}},
			{SecretName: "db", File: &api.FileTarget{Name: "/etc/db.pw"}},
		},
	}}}
	got, err := f.forTask(tk)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.File{
		{Target: "/app.yml", Data: []byte("cfg"), Mode: 0o444},
		{Target: "/etc/app.yml", Data: []byte("cfg"), Mode: 0o600},
		{Target: "/opt/app.yml", Data: []byte("cfg"), Mode: 0o444, UID: "10", GID: "20"},
		{Target: "/run/secrets/db", Data: []byte("pw"), Mode: 0o444, Secret: true},
		{Target: "/run/secrets/db.pw", Data: []byte("pw"), Mode: 0o400, Secret: true},
		{Target: "/etc/db.pw", Data: []byte("pw"), Mode: 0o444, Secret: true},
	}
	if len(got) != len(want) {
		t.Fatalf("files %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Target != w.Target || string(g.Data) != string(w.Data) || g.Mode != w.Mode || g.UID != w.UID || g.GID != w.GID || g.Secret != w.Secret {
			t.Errorf("file %d = %+v, want %+v", i, g, w)
		}
	}

	// A full assignment replaces what the node holds.
	f.apply(api.Assignments{Full: true, Configs: []*api.Config{{ID: "c1", Spec: api.ConfigSpec{Name: "app.yml", Data: []byte("cfg")}}}})
	_, err = f.forTask(tk)
	if err == nil || !strings.Contains(err.Error(), `secret "db" is not available on this node`) {
		t.Fatalf("after a full assignment without the secret: %v", err)
	}
	if files, err := f.forTask(&api.Task{}); err != nil || files != nil {
		t.Fatalf("task without files: %v %v", files, err)
	}
}
