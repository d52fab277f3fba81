package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	shoalclient "github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

func startDockerDev(b *testing.B) (*daemon.Dev, *shoalclient.Client) {
	b.Helper()
	testutil.RequireDocker(b)
	return startDevWith(b, daemon.DevConfig{Docker: true})
}

// BenchmarkDockerServiceCreate20 times `service create --replicas 20` of
// a scratch image until 20/20 run; compare with BenchmarkDockerRunLoop
// (20 docker run -d of the same image) in the same run.
func BenchmarkDockerServiceCreate20(b *testing.B) {
	const n = 20
	image := dockerBenchImage(b)
	d, c := startDockerDev(b)
	ctx := context.Background()
	store := d.Manager().Store()
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec := api.ServiceSpec{Name: fmt.Sprintf("c%d", i), Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: n}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Image: image}}}
		start := time.Now()
		svc, err := c.ServiceCreate(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = waitStore(wctx, store, func(tx *state.ReadTx) bool { return len(runningTasks(tx, svc.ID)) == n })
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := c.ServiceRemove(ctx, svc.ID); err != nil {
			b.Fatal(err)
		}
		wctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		err = waitStore(wctx, store, func(tx *state.ReadTx) bool { return len(tx.TasksByService(svc.ID)) == 0 })
		cancel()
		if err != nil {
			b.Fatalf("tasks of %s left after its removal: %v", spec.Name, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-for-20")
}

// BenchmarkDockerSelfHeal removes a running container behind shoal's back
// (docker rm -f) once per iteration and times until its replacement runs,
// restart delay 0. Run with -benchtime=50x.
func BenchmarkDockerSelfHeal(b *testing.B) {
	image := dockerBenchImage(b)
	d, c := startDockerDev(b)
	dc := testutil.DockerClient(b)
	ctx := context.Background()
	store := d.Manager().Store()
	svc, err := c.ServiceCreate(ctx, api.ServiceSpec{Name: "heal", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Image: image}, RestartPolicy: &api.RestartPolicy{Delay: api.DurationPtr(0)}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := waitStore(ctx, store, func(tx *state.ReadTx) bool { return len(runningTasks(tx, svc.ID)) == 2 }); err != nil {
		b.Fatal(err)
	}
	selfHeal(b, store, svc.ID, time.Minute, func(victim *api.Task) error {
		_, err := dc.ContainerRemove(ctx, victim.Status.RuntimeID, client.ContainerRemoveOptions{Force: true})
		return err
	})
}
