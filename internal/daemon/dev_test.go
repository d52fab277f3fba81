package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := client.New(d.Host())
	svc, err := c.ServiceCreate(ctx, api.ServiceSpec{Name: "web", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 3}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		ts, _ := c.TaskList(ctx, client.TaskFilter{Service: svc.ID})
		n := 0
		for _, t := range ts {
			if t.Status.State == api.TaskStateRunning {
				n++
			}
		}
		t.Logf("running %d of %d", n, len(ts))
		if n == 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.ServiceRemove(ctx, "web")
	time.Sleep(time.Second)
	ts, _ := c.TaskList(ctx, client.TaskFilter{})
	t.Logf("after rm: %d tasks", len(ts))
}
