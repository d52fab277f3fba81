// Package client is the Go client of shoal's HTTP API, used by the CLI, the
// tests and users' scripts.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
)

// Client talks to one manager.
type Client struct {
	http *http.Client
	base string
	host string
}

// New returns a client for host: "unix:///path/to/shoal.sock". A
// "tcp://HOST:PORT" host needs a client certificate: use NewTLS; New
// refuses it (ErrNeedTLS) rather than speak plain HTTP.
func New(host string) (*Client, error) {
	return NewTLS(host, nil)
}

// NewTLS returns a client for host: "unix:///path/to/shoal.sock", or
// "tcp://HOST:PORT" with the operator certificate of files (mutual TLS,
// the manager's certificate checked against files.CA for HOST). A tcp://
// host without files is ErrNeedTLS; files are ignored for a unix socket,
// as docker ignores --tlsverify there.
func NewTLS(host string, files *TLSFiles) (*Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("invalid host %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix":
		path := u.Path
		// unix://dir/shoal.sock would parse as host "dir" and path
		// "/shoal.sock": refuse it rather than dial another socket.
		if path == "" || u.Host != "" {
			return nil, fmt.Errorf("invalid host %q: want unix:///path/to/shoal.sock", host)
		}
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
		return &Client{http: &http.Client{Transport: tr}, base: "http://shoal", host: host}, nil
	case "tcp":
		if u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("invalid host %q: want tcp://HOST:PORT", host)
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("invalid host %q: want tcp://HOST:PORT: %w", host, err)
		}
		if files == nil {
			return nil, fmt.Errorf("%w (host %s)", ErrNeedTLS, host)
		}
		cfg, err := files.config()
		if err != nil {
			return nil, err
		}
		tr := &http.Transport{TLSClientConfig: cfg, TLSHandshakeTimeout: 10 * time.Second}
		return &Client{http: &http.Client{Transport: tr}, base: "https://" + u.Host, host: host}, nil
	}
	return nil, fmt.Errorf("invalid host %q: want unix:///path or tcp://HOST:PORT", host)
}

// Host is the address the client talks to.
func (c *Client) Host() string { return c.host }

// Error is an error the API returned.
type Error struct {
	StatusCode int
	Message    string
}

func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err is the API's "not found".
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// IsConflict reports whether err is the API's "conflict".
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusConflict
}

// ConnectError says the manager could not be reached.
type ConnectError struct {
	Host string
	Err  error
}

func (e *ConnectError) Error() string {
	if hint := tlsHint(e.Err); hint != "" {
		return fmt.Sprintf("cannot reach shoal at %s: %v (%s)", e.Host, e.Err, hint)
	}
	return fmt.Sprintf("cannot reach shoal at %s: %v (is `shoal dev` running? set --host or SHOAL_HOST)", e.Host, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &ConnectError{Host: c.host, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return nil
}

// stream opens a GET of path whose body the caller reads as it comes (and
// closes); a refused request is returned as an error.
func (c *Client) stream(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnectError{Host: c.host, Err: err}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return &Error{StatusCode: resp.StatusCode, Message: e.Message}
	}
	return &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))}
}

// Info describes the manager.
func (c *Client) Info(ctx context.Context) (*api.Info, error) {
	var out api.Info
	return &out, c.do(ctx, http.MethodGet, "/v1/info", nil, nil, &out)
}

// IngressRoutes lists the routers the ingress of the node serving the
// API runs.
func (c *Client) IngressRoutes(ctx context.Context) ([]api.IngressRoute, error) {
	var out []api.IngressRoute
	return out, c.do(ctx, http.MethodGet, "/v1/ingress/routes", nil, nil, &out)
}

// ServiceCreate creates a service.
func (c *Client) ServiceCreate(ctx context.Context, spec api.ServiceSpec) (*api.Service, error) {
	var out api.Service
	return &out, c.do(ctx, http.MethodPost, "/v1/services", nil, spec, &out)
}

// ServiceList lists every service.
func (c *Client) ServiceList(ctx context.Context) ([]*api.Service, error) {
	var out []*api.Service
	return out, c.do(ctx, http.MethodGet, "/v1/services", nil, nil, &out)
}

// ServiceInspect returns the service ref names (ID, name or ID prefix).
func (c *Client) ServiceInspect(ctx context.Context, ref string) (*api.Service, error) {
	var out api.Service
	return &out, c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(ref), nil, nil, &out)
}

// ServiceUpdate replaces a service's spec; version (if not zero) must be
// the service's current Version.
func (c *Client) ServiceUpdate(ctx context.Context, ref string, version uint64, spec api.ServiceSpec) (*api.Service, error) {
	var out api.Service
	return &out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(ref)+"/update", versionQuery(version), spec, &out)
}

// ServiceRollback puts back a service's previous spec, or the spec of
// revision to (when not zero) from its history.
func (c *Client) ServiceRollback(ctx context.Context, ref string, to uint64) (*api.Service, error) {
	var q url.Values
	if to != 0 {
		q = url.Values{"to": {fmt.Sprint(to)}}
	}
	var out api.Service
	return &out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(ref)+"/rollback", q, nil, &out)
}

// ServiceLogs copies the output of a service's tasks to w, each line
// prefixed with its task and node; with follow it streams until ctx ends.
func (c *Client) ServiceLogs(ctx context.Context, ref string, follow bool, w io.Writer) error {
	return c.ServiceLogsWith(ctx, ref, LogsOptions{Follow: follow}, w)
}

// LogsOptions are the options of docker's service logs.
type LogsOptions struct {
	Follow     bool
	Timestamps bool
	Details    bool
	// Raw drops each line's "web.1.TASKID@HOST |" prefix.
	Raw bool
	// Tail is how many of each task's last lines to show: "" or "all"
	// for all of them.
	Tail string
	// Since, when not zero, drops lines written before it.
	Since time.Time
	// IDs is how the prefix names the task: "short" (the default, the
	// task ID's first 12 characters), "full" or "none".
	IDs string
	// NoResolve names the service and node by ID in the prefix.
	NoResolve bool
}

// ServiceLogsWith copies the output of a service's tasks, or of one task
// when ref is a task ID (or prefix), to w, as o says.
func (c *Client) ServiceLogsWith(ctx context.Context, ref string, o LogsOptions, w io.Writer) error {
	q := url.Values{}
	for k, on := range map[string]bool{"follow": o.Follow, "timestamps": o.Timestamps, "details": o.Details, "raw": o.Raw, "noresolve": o.NoResolve} {
		if on {
			q.Set(k, "1")
		}
	}
	if o.Tail != "" {
		q.Set("tail", o.Tail)
	}
	if !o.Since.IsZero() {
		q.Set("since", fmt.Sprintf("%d.%09d", o.Since.Unix(), o.Since.Nanosecond()))
	}
	if o.IDs != "" {
		q.Set("ids", o.IDs)
	}
	resp, err := c.stream(ctx, "/v1/services/"+url.PathEscape(ref)+"/logs", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// ServiceRemove deletes a service.
func (c *Client) ServiceRemove(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/v1/services/"+url.PathEscape(ref), nil, nil, nil)
}

// TaskFilter narrows TaskList.
type TaskFilter struct {
	Service      string
	Node         string
	DesiredState string
}

// TaskList lists tasks.
func (c *Client) TaskList(ctx context.Context, f TaskFilter) ([]*api.Task, error) {
	q := url.Values{}
	if f.Service != "" {
		q.Set("service", f.Service)
	}
	if f.Node != "" {
		q.Set("node", f.Node)
	}
	if f.DesiredState != "" {
		q.Set("desired-state", f.DesiredState)
	}
	var out []*api.Task
	return out, c.do(ctx, http.MethodGet, "/v1/tasks", q, nil, &out)
}

// TaskInspect returns one task.
func (c *Client) TaskInspect(ctx context.Context, id string) (*api.Task, error) {
	var out api.Task
	return &out, c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, nil, &out)
}

// NodeList lists the nodes.
func (c *Client) NodeList(ctx context.Context) ([]*api.Node, error) {
	var out []*api.Node
	return out, c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil, &out)
}

// NodeInspect returns one node; "self" is the node the API runs on.
func (c *Client) NodeInspect(ctx context.Context, ref string) (*api.Node, error) {
	var out api.Node
	return &out, c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(ref), nil, nil, &out)
}

// NodeUpdate sets a node's spec (availability, operator labels); version,
// when not zero, must be the node's current Version.
func (c *Client) NodeUpdate(ctx context.Context, ref string, version uint64, spec api.NodeSpec) (*api.Node, error) {
	var out api.Node
	return &out, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(ref)+"/update", versionQuery(version), spec, &out)
}

// NodeRemove removes a node from the cluster: a down one, or with force
// one that is up (its agent then stops its tasks).
func (c *Client) NodeRemove(ctx context.Context, ref string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(ref), q, nil, nil)
}

// NodeDemote makes the manager ref names a worker, leaving the Raft group.
func (c *Client) NodeDemote(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(ref)+"/demote", nil, nil, nil)
}

// NodePromote makes the worker ref names a manager: its agent starts a
// manager, which joins the Raft group.
func (c *Client) NodePromote(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(ref)+"/promote", nil, nil, nil)
}

// SwarmLeave makes the node that answers leave the cluster (`swarm
// leave`): a manager refuses without force.
func (c *Client) SwarmLeave(ctx context.Context, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, http.MethodPost, "/v1/swarm/leave", q, nil, nil)
}

// SwarmInspect returns the join tokens and where agents join.
func (c *Client) SwarmInspect(ctx context.Context) (*api.Swarm, error) {
	var out api.Swarm
	return &out, c.do(ctx, http.MethodGet, "/v1/swarm", nil, nil, &out)
}

// RotateJoinToken gives role ("worker" or "manager") a new join token;
// the old one no longer admits anyone. SwarmInspect then shows the new
// one.
func (c *Client) RotateJoinToken(ctx context.Context, role string) error {
	return c.do(ctx, http.MethodPost, "/v1/swarm/join-token/"+url.PathEscape(role)+"/rotate", nil, nil, nil)
}

// RotateCA starts a rotation of the cluster CA; SwarmInspect shows its
// progress (RootRotationInProgress, CARotation).
func (c *Client) RotateCA(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/swarm/ca/rotate", nil, nil, nil)
}

// EventFilter narrows Events.
type EventFilter struct {
	Types   []string
	Service string
}

// ErrEventsFellBehind is wrapped by the error Events returns when the
// server ended the stream because this client fell too far behind (more
// than api.MaxEventQueue events): read the state again and reconnect.
var ErrEventsFellBehind = errors.New("event stream ended by the server")

// Events streams cluster changes to fn until ctx ends, the stream breaks,
// or fn returns an error (which Events returns). The first event has type
// "sync" and carries the index the stream starts after. A stream the
// server ended because the client fell behind returns an error wrapping
// ErrEventsFellBehind.
func (c *Client) Events(ctx context.Context, f EventFilter, fn func(api.Event) error) error {
	q := url.Values{}
	if len(f.Types) > 0 {
		q.Set("type", strings.Join(f.Types, ","))
	}
	if f.Service != "" {
		q.Set("service", f.Service)
	}
	resp, err := c.stream(ctx, "/v1/events", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		if ev.Type == api.EventStreamError {
			return fmt.Errorf("%w: %s", ErrEventsFellBehind, ev.Message)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return fmt.Errorf("event stream closed by the server")
}

// SwarmUpdate changes the cluster settings u gives (what it leaves out
// stays), as Docker's SwarmUpdate: autolock (`swarm update --autolock`;
// turned on, it returns the unlock key) and the certificate life.
func (c *Client) SwarmUpdate(ctx context.Context, u api.SwarmUpdate) (string, error) {
	var out api.UnlockKey
	err := c.do(ctx, http.MethodPost, "/v1/swarm/update", nil, u, &out)
	return out.UnlockKey, err
}

// UnlockKey returns the cluster's unlock key, "" when autolock is off.
func (c *Client) UnlockKey(ctx context.Context) (string, error) {
	var out api.UnlockKey
	err := c.do(ctx, http.MethodGet, "/v1/swarm/unlockkey", nil, nil, &out)
	return out.UnlockKey, err
}

// RotateUnlockKey gives the cluster a new unlock key and returns it.
func (c *Client) RotateUnlockKey(ctx context.Context) (string, error) {
	var out api.UnlockKey
	err := c.do(ctx, http.MethodPost, "/v1/swarm/unlockkey/rotate", nil, nil, &out)
	return out.UnlockKey, err
}

// SwarmUnlock unlocks a locked manager with its unlock key.
func (c *Client) SwarmUnlock(ctx context.Context, key string) error {
	return c.do(ctx, http.MethodPost, "/v1/swarm/unlock", nil, api.UnlockRequest{UnlockKey: key}, nil)
}
