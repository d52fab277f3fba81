package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/internal/testutil"
)

// dockerAPI calls the Docker API on a unix socket as a Docker client does:
// versioned paths, JSON bodies, {"message": …} errors.
type dockerAPI struct {
	t *testing.T
	c *http.Client
}

func newDockerAPI(t *testing.T, sock string) *dockerAPI {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &dockerAPI{t: t, c: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// call sends method path (with body as JSON when not nil), checks the
// status code and decodes the answer into out when not nil. It returns the
// error message of a non-2xx answer.
func (a *dockerAPI) call(method, path string, body, out any, wantCode int) string {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://docker/v1.47"+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != wantCode {
		a.t.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, wantCode)
		return ""
	}
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		if err := json.Unmarshal(raw, &e); err != nil || e.Message == "" {
			a.t.Errorf("%s %s: error body %q is not Docker's {\"message\": …}", method, path, raw)
		}
		return e.Message
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return ""
}

// filterQuery encodes Docker's filters parameter.
func filterQuery(kv ...string) string {
	f := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = append(f[kv[i]], kv[i+1])
	}
	b, _ := json.Marshal(f)
	return "filters=" + url.QueryEscape(string(b))
}

// wantMessage fails unless msg contains want.
func wantMessage(t *testing.T, what, msg, want string) {
	t.Helper()
	if !strings.Contains(msg, want) {
		t.Errorf("%s: message %q, want it to say %q", what, msg, want)
	}
}

// Every endpoint and filter issue 17 names, called as Docker clients call
// them, with Docker's status codes and error bodies: services (filters,
// insertDefaults, update with version, registryAuthFrom, rollback), tasks
// (filters, inspect), nodes (update, delete), configs, secrets, networks,
// distribution, and the errors the CLI prints.
func TestDockerAPIEndpointsAndErrors(t *testing.T) {
	d, _, _ := dockerCluster(t)
	c := clientOf(t, d)
	a := newDockerAPI(t, d.DockerSocket())
	ctx := ctxTimeout(t, 2*time.Minute)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)

	one := uint64(1)
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web", Labels: map[string]string{"tier": "web"}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	var created swarm.ServiceCreateResponse
	a.call("POST", "/services/create", spec, &created, http.StatusCreated)
	wantMessage(t, "create of a taken name", a.call("POST", "/services/create", spec, nil, http.StatusConflict),
		"rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists")
	tty := spec
	tty.Annotations.Name = "tty"
	tty.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: image, TTY: true}
	wantMessage(t, "create with TTY", a.call("POST", "/services/create", tty, nil, http.StatusBadRequest), "ContainerSpec.TTY")
	a.call("POST", "/services/create", map[string]any{"Name": "x", "Bogus": 1, "TaskTemplate": map[string]any{"ContainerSpec": map[string]any{"Image": image}}}, nil, http.StatusCreated)
	a.call("DELETE", "/services/x", nil, nil, http.StatusOK)

	for _, tc := range []struct {
		filter []string
		want   int
	}{
		{[]string{"name", "we"}, 1}, {[]string{"name", "nomatch"}, 0},
		{[]string{"id", created.ID[:6]}, 1}, {[]string{"id", "zzzz"}, 0},
		{[]string{"label", "tier=web"}, 1}, {[]string{"label", "tier"}, 1}, {[]string{"label", "tier=db"}, 0},
		{[]string{"mode", "replicated"}, 1}, {[]string{"mode", "global"}, 0},
	} {
		var got []swarm.Service
		a.call("GET", "/services?"+filterQuery(tc.filter...), nil, &got, http.StatusOK)
		if len(got) != tc.want {
			t.Errorf("services with %v: %d, want %d", tc.filter, len(got), tc.want)
		}
	}
	wantMessage(t, "bad services filter", a.call("GET", "/services?"+filterQuery("color", "red"), nil, nil, http.StatusBadRequest), "Invalid filter 'color'")

	var plain, full swarm.Service
	a.call("GET", "/services/web", nil, &plain, http.StatusOK)
	a.call("GET", "/services/web?insertDefaults=true", nil, &full, http.StatusOK)
	if plain.Spec.UpdateConfig != nil || plain.Spec.TaskTemplate.RestartPolicy != nil {
		t.Errorf("inspect without insertDefaults shows defaults: %+v %+v", plain.Spec.UpdateConfig, plain.Spec.TaskTemplate.RestartPolicy)
	}
	if u, rp := full.Spec.UpdateConfig, full.Spec.TaskTemplate.RestartPolicy; u == nil || u.Parallelism != 1 || u.Order != swarm.UpdateOrderStopFirst ||
		rp == nil || rp.Condition != swarm.RestartPolicyConditionAny || full.Spec.RollbackConfig == nil ||
		full.Spec.TaskTemplate.ContainerSpec.StopGracePeriod == nil || *full.Spec.TaskTemplate.ContainerSpec.StopGracePeriod != 10*time.Second {
		t.Errorf("insertDefaults: update %+v restart %+v rollback %+v", u, rp, full.Spec.RollbackConfig)
	}
	if full.Endpoint.Spec.Mode != "" {
		t.Errorf("Endpoint.Spec of a service without ports or networks: %+v, want {} as Swarm", full.Endpoint.Spec)
	}
	wantMessage(t, "inspect of a missing service", a.call("GET", "/services/nosuch", nil, nil, http.StatusNotFound), "service nosuch not found")

	waitTasks(t, ctx, c, "web", "1 running", nRunning(1))
	var tasks []swarm.Task
	a.call("GET", "/tasks?"+filterQuery("service", "web"), nil, &tasks, http.StatusOK)
	if len(tasks) != 1 {
		t.Fatalf("tasks of web: %d, want 1", len(tasks))
	}
	task := tasks[0]
	// Each filter must return web's task and only tasks it matches (the
	// task may be replaced meanwhile on a loaded machine: a second one is
	// no error), or nothing for a filter that matches nothing.
	for _, tc := range []struct {
		filter  []string
		matches func(swarm.Task) bool // nil: nothing matches
	}{
		{[]string{"service", created.ID}, func(tk swarm.Task) bool { return tk.ServiceID == created.ID }}, {[]string{"service", "nosuch"}, nil},
		{[]string{"node", task.NodeID}, func(tk swarm.Task) bool { return tk.NodeID == task.NodeID }}, {[]string{"node", "nosuch"}, nil},
		{[]string{"desired-state", "running"}, func(tk swarm.Task) bool { return tk.DesiredState == swarm.TaskStateRunning }}, {[]string{"desired-state", "shutdown"}, nil},
		{[]string{"name", "web.1"}, func(tk swarm.Task) bool { return tk.ServiceID == created.ID && tk.Slot == 1 }}, {[]string{"name", "db"}, nil},
		{[]string{"id", task.ID}, func(tk swarm.Task) bool { return tk.ID == task.ID }}, {[]string{"label", "nosuch"}, nil},
	} {
		var got []swarm.Task
		a.call("GET", "/tasks?"+filterQuery(tc.filter...), nil, &got, http.StatusOK)
		found := false
		for _, tk := range got {
			if tc.matches == nil || !tc.matches(tk) {
				t.Errorf("tasks with %v: task %s (service %s, node %s, slot %d, desired %s) does not match", tc.filter, tk.ID, tk.ServiceID, tk.NodeID, tk.Slot, tk.DesiredState)
			}
			found = found || tk.ID == task.ID
		}
		if tc.matches != nil && !found && !(tc.filter[0] == "desired-state" && len(got) > 0) {
			t.Errorf("tasks with %v: %d tasks, none of them web's %s", tc.filter, len(got), task.ID)
		}
	}
	var inspected swarm.Task
	a.call("GET", "/tasks/"+task.ID, nil, &inspected, http.StatusOK)
	if inspected.ServiceID != created.ID || inspected.Slot != 1 || inspected.Status.State != swarm.TaskStateRunning {
		t.Errorf("task inspect: service %s slot %d state %s", inspected.ServiceID, inspected.Slot, inspected.Status.State)
	}
	a.call("GET", "/tasks/nosuch", nil, nil, http.StatusNotFound)

	// Logs: Docker's multiplexed frames, stdout (1) and stderr (2).
	frames := a.logFrames("/services/web/logs?stdout=1&stderr=1")
	if len(frames) == 0 || !strings.Contains(strings.Join(frames, ""), "testapp listening on") {
		t.Errorf("service logs: frames %q, want the task's first line", frames)
	}

	// Updates: a stale version is refused, registryAuthFrom takes
	// Docker's values, rollback=previous restores the spec.
	upd := full.Spec
	upd.TaskTemplate.ContainerSpec.Env = []string{"A=1"}
	stale := fmt.Sprintf("/services/web/update?version=%d", full.Version.Index-1)
	if code := a.status("POST", stale, upd); code < 400 {
		t.Errorf("update with a stale version: %d, want it refused", code)
	}
	a.call("POST", fmt.Sprintf("/services/web/update?version=%d&registryAuthFrom=bogus", full.Version.Index), upd, nil, http.StatusBadRequest)
	a.call("POST", fmt.Sprintf("/services/web/update?version=%d&registryAuthFrom=previous-spec", full.Version.Index), upd, nil, http.StatusOK)
	var after swarm.Service
	a.call("GET", "/services/web", nil, &after, http.StatusOK)
	if env := after.Spec.TaskTemplate.ContainerSpec.Env; len(env) != 1 || after.PreviousSpec == nil {
		t.Errorf("after the update: env %q, previous spec %v", env, after.PreviousSpec != nil)
	}
	a.call("POST", fmt.Sprintf("/services/web/update?version=%d&rollback=previous", after.Version.Index), after.PreviousSpec, nil, http.StatusOK)
	var back swarm.Service
	a.call("GET", "/services/web", nil, &back, http.StatusOK)
	if env := back.Spec.TaskTemplate.ContainerSpec.Env; len(env) != 0 {
		t.Errorf("after rollback=previous: env %q, want none", env)
	}
	a.call("POST", "/services/web/update?version=1&rollback=next", upd, nil, http.StatusBadRequest)

	// Nodes: list, inspect, labels through update, delete errors.
	var nodes []swarm.Node
	a.call("GET", "/nodes?"+filterQuery("role", "manager"), nil, &nodes, http.StatusOK)
	if len(nodes) != 1 {
		t.Fatalf("manager nodes: %d, want 1", len(nodes))
	}
	n := nodes[0]
	n.Spec.Labels = map[string]string{"zone": "a"}
	a.call("POST", fmt.Sprintf("/nodes/%s/update?version=%d", n.ID, n.Version.Index), n.Spec, nil, http.StatusOK)
	a.call("GET", "/nodes?"+filterQuery("node.label", "zone=a"), nil, &nodes, http.StatusOK)
	if len(nodes) != 1 {
		t.Errorf("nodes labelled zone=a: %d, want 1", len(nodes))
	}
	wantMessage(t, "delete of a missing node", a.call("DELETE", "/nodes/nosuch", nil, nil, http.StatusNotFound), "node nosuch not found")
	if code := a.status("DELETE", "/nodes/"+n.ID, nil); code < 400 {
		t.Errorf("delete of the only manager: %d, want it refused", code)
	}

	// Events: the stream answers once subscribed, so the config created
	// right after is in it.
	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(evCtx, "GET", "http://docker/v1.47/events?"+filterQuery("type", "config"), nil)
	resp, err := a.c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	a.call("POST", "/configs/create", map[string]any{"Name": "evc", "Data": []byte("x")}, nil, http.StatusCreated)
	var ev events.Message
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		t.Fatalf("events: %v", err)
	}
	if ev.Type != events.ConfigEventType || ev.Action != events.ActionCreate || ev.Actor.Attributes["name"] != "evc" || ev.Scope != "swarm" {
		t.Errorf("event %+v, want the config evc's create", ev)
	}
	cancel()
	a.call("DELETE", "/configs/evc", nil, nil, http.StatusNoContent)

	// Configs and secrets: create, list, inspect, conflicts, delete.
	for _, kind := range []string{"config", "secret"} {
		var idr swarm.ConfigCreateResponse
		body := map[string]any{"Name": "p" + kind, "Data": []byte("x")}
		a.call("POST", "/"+kind+"s/create", body, &idr, http.StatusCreated)
		wantMessage(t, kind+" create of a taken name", a.call("POST", "/"+kind+"s/create", body, nil, http.StatusConflict),
			"rpc error: code = AlreadyExists desc = "+kind+" p"+kind+" already exists")
		var list []map[string]any
		a.call("GET", "/"+kind+"s?"+filterQuery("name", "p"+kind), nil, &list, http.StatusOK)
		if len(list) != 1 {
			t.Errorf("%ss named p%s: %d", kind, kind, len(list))
		}
		var obj struct{ ID string }
		a.call("GET", "/"+kind+"s/p"+kind, nil, &obj, http.StatusOK)
		if obj.ID != idr.ID {
			t.Errorf("%s inspect: ID %q, created %q", kind, obj.ID, idr.ID)
		}
		a.call("DELETE", "/"+kind+"s/p"+kind, nil, nil, http.StatusNoContent)
		wantMessage(t, kind+" inspect after delete", a.call("GET", "/"+kind+"s/p"+kind, nil, nil, http.StatusNotFound), kind+" p"+kind+" not found")
	}

	// Networks: swarm-scoped overlays only.
	a.call("POST", "/networks/create", map[string]any{"Name": "pn", "Driver": "overlay", "Scope": "swarm"}, nil, http.StatusCreated)
	wantMessage(t, "network create of a taken name", a.call("POST", "/networks/create", map[string]any{"Name": "pn", "Driver": "overlay"}, nil, http.StatusConflict),
		"network with name pn already exists")
	wantMessage(t, "bridge network", a.call("POST", "/networks/create", map[string]any{"Name": "pb", "Driver": "bridge"}, nil, http.StatusBadRequest), "bridge")
	a.call("GET", "/networks/pn", nil, nil, http.StatusOK)
	a.call("DELETE", "/networks/pn", nil, nil, http.StatusNoContent)
	wantMessage(t, "delete of a missing network", a.call("DELETE", "/networks/pn", nil, nil, http.StatusNotFound), "network pn not found")

	a.call("GET", "/distribution/"+image+"/json", nil, nil, http.StatusNotFound)
	a.call("DELETE", "/services/web", nil, nil, http.StatusOK)
	wantMessage(t, "delete of a missing service", a.call("DELETE", "/services/web", nil, nil, http.StatusNotFound), "service web not found")
}

// status sends a request and returns only its status code.
func (a *dockerAPI) status(method, path string, body any) int {
	a.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, "http://docker/v1.47"+path, bytes.NewReader(b))
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// logFrames reads a logs stream in Docker's multiplexed format (an 8-byte
// header: stream 1 or 2, three zeros, the big-endian length) and returns
// the payloads, failing on anything else.
func (a *dockerAPI) logFrames(path string) []string {
	a.t.Helper()
	resp, err := a.c.Get("http://docker/v1.47" + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %d %v %q", path, resp.StatusCode, err, raw)
	}
	var frames []string
	for len(raw) > 0 {
		if len(raw) < 8 || raw[0] != 1 && raw[0] != 2 || raw[1] != 0 || raw[2] != 0 || raw[3] != 0 {
			a.t.Fatalf("GET %s: not a multiplexed frame at %q", path, raw)
		}
		n := int(binary.BigEndian.Uint32(raw[4:8]))
		if len(raw) < 8+n {
			a.t.Fatalf("GET %s: frame of %d bytes cut at %d", path, n, len(raw)-8)
		}
		frames = append(frames, string(raw[8:8+n]))
		raw = raw[8+n:]
	}
	return frames
}
