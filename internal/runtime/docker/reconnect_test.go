package docker

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

// cutProxy forwards a unix socket to the engine's, and can cut every
// connection under way, as an engine restart or a network failure would.
type cutProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// newCutProxy starts a proxy of the engine's unix socket and returns its
// address (for DOCKER_HOST); it is closed when the test ends.
func newCutProxy(t *testing.T) (*cutProxy, string) {
	t.Helper()
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			t.Skipf("the engine is not on a unix socket (DOCKER_HOST=%s)", h)
		}
		target = p
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p, "unix://" + sock
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		d, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[d] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(c, d)
		go pipe(d, c)
	}
}

// cut closes every connection under way.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) close() {
	p.l.Close()
	p.cut()
	p.wg.Wait()
}

// newCutRuntime returns a Runtime that reaches the engine through a
// cutProxy, the proxy, a client of the engine itself (not through the
// proxy) and the test app's image.
func newCutRuntime(t *testing.T) (*Runtime, *cutProxy, *client.Client, string) {
	t.Helper()
	testutil.RequireDocker(t)
	image := appImage(t)
	direct := testutil.DockerClient(t)
	proxy, host := newCutProxy(t)
	t.Setenv("DOCKER_HOST", host)
	return newRuntime(t), proxy, direct, image
}

// The event stream is reopened when it fails, and what happened meanwhile
// is not missed.
func TestEventStreamReconnects(t *testing.T) {
	r, proxy, direct, image := newCutRuntime(t)

	killed, exiting := spec(image), spec(image)
	exiting.Ports = nil
	hKilled := start(t, r, killed)
	start(t, r, exiting)
	waitReady(t, r, killed.TaskID)
	waitReady(t, r, exiting.TaskID)
	type result struct {
		st  runtime.ExitStatus
		err error
	}
	waits := map[string]chan result{}
	for _, id := range []string{killed.TaskID, exiting.TaskID} {
		ch := make(chan result, 1)
		waits[id] = ch
		go func() {
			st, err := r.Wait(testCtx(t), id)
			ch <- result{st, err}
		}()
	}

	// Cut the stream, and end both containers while it is down (the
	// stream comes back after a delay of at least minBackoff).
	t0 := time.Now()
	proxy.cut()
	ctx := testCtx(t)
	if _, err := direct.ContainerKill(ctx, hKilled.RuntimeID, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	timeout := 10
	res, err := direct.ContainerList(stopCtx, client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", LabelTaskID+"="+exiting.TaskID),
	})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("list: %v %v", res.Items, err)
	}
	if _, err := direct.ContainerStop(stopCtx, res.Items[0].ID, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}

	for id, want := range map[string]int{killed.TaskID: 137, exiting.TaskID: 0} {
		select {
		case got := <-waits[id]:
			if got.err != nil || got.st.ExitCode != want {
				t.Errorf("task %s: %+v, %v; want exit %d", id, got.st, got.err, want)
			}
		case <-time.After(testTimeout):
			t.Fatalf("task %s: the end was missed", id)
		}
	}

	t.Logf("ends noticed in %v", time.Since(t0))
	// And the stream works again.
	later := spec(image)
	hLater := start(t, r, later)
	waitReady(t, r, later.TaskID)
	if _, err := direct.ContainerRemove(ctx, hLater.RuntimeID, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r, later.TaskID); got.Message != "container removed" {
		t.Errorf("exit %+v", got)
	}
	if _, err := r.Wait(ctx, "nope"); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("wait: %v", err)
	}
}
