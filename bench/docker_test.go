package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/docker"
	"github.com/shoalproject/shoal/internal/testutil"
)

// dockerBatch is how many containers the Docker benchmarks start per
// round.
const dockerBatch = 20

// dockerBenchImage returns the testapp image, removed when the benchmark
// ends.
func dockerBenchImage(b *testing.B) string {
	b.Helper()
	testutil.RequireDocker(b)
	ref := testutil.BuildImage(b, "shoal-bench/docker:app", testutil.TestAppDir(), "")
	b.Cleanup(func() { _ = testutil.RemoveImages() })
	return ref
}

// removeLabelled force-removes the containers labelled label=value.
func removeLabelled(b *testing.B, c *client.Client, label, value string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.ContainerList(ctx, client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", label+"="+value),
	})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, ctr := range res.Items {
		wg.Go(func() {
			if _, err := c.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// BenchmarkDockerRunLoop is the peer figure: the time for 20 `docker run -d`
// of the same image in a row (create and start, through the engine API, as
// the docker CLI does), in s-for-20.
func BenchmarkDockerRunLoop(b *testing.B) {
	image := dockerBenchImage(b)
	c := testutil.DockerClient(b)
	run := api.NewID()
	b.Cleanup(func() { removeLabelled(b, c, testutil.LabelTest, run) })
	var total time.Duration
	rounds := 0
	for b.Loop() {
		start := time.Now()
		for range dockerBatch {
			created, err := c.ContainerCreate(context.Background(), client.ContainerCreateOptions{
				Config: &container.Config{Image: image, Labels: map[string]string{testutil.LabelTest: run}},
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.ContainerStart(context.Background(), created.ID, client.ContainerStartOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
		rounds++
		b.StopTimer()
		removeLabelled(b, c, testutil.LabelTest, run)
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(rounds), "s-for-20")
}

// BenchmarkDockerRuntimeStart20 is the time for 20 Runtime.Start calls of
// the same image, made at once as the agent makes them (a goroutine per
// task), until every container runs, in s-for-20.
func BenchmarkDockerRuntimeStart20(b *testing.B) { benchmarkRuntimeStart(b, true) }

// BenchmarkDockerRuntimeStart20Sequential is the same with the 20 calls in
// a row, to compare with BenchmarkDockerRunLoop like for like.
func BenchmarkDockerRuntimeStart20Sequential(b *testing.B) { benchmarkRuntimeStart(b, false) }

func benchmarkRuntimeStart(b *testing.B, concurrent bool) {
	image := dockerBenchImage(b)
	c := testutil.DockerClient(b)
	node := "bench-" + api.NewID()
	r, err := docker.New(context.Background(), docker.Options{NodeID: node, NodeAddr: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		removeLabelled(b, c, docker.LabelNodeID, node)
		r.Close()
	})
	var total time.Duration
	rounds := 0
	for b.Loop() {
		specs := make([]runtime.TaskSpec, dockerBatch)
		for i := range specs {
			id := api.NewID()
			specs[i] = runtime.TaskSpec{
				TaskID: id, ServiceID: "bench", ServiceName: "bench", Slot: uint64(i + 1),
				Name:      "bench." + id,
				Container: api.ContainerSpec{Image: image, Labels: map[string]string{testutil.LabelTest: "1"}},
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		for _, s := range specs {
			startOne := func() {
				if _, err := r.Start(context.Background(), s); err != nil {
					b.Error(err)
				}
			}
			if concurrent {
				wg.Go(startOne)
			} else {
				startOne()
			}
		}
		wg.Wait()
		total += time.Since(start)
		rounds++
		if b.Failed() {
			b.FailNow()
		}
		b.StopTimer()
		for _, s := range specs {
			wg.Go(func() {
				if err := r.Remove(context.Background(), s.TaskID); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(rounds), "s-for-20")
}
