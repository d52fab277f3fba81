package agentlink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/ca"
)

// callTimeout bounds every request but the long-polls and the routes
// stream: a manager that does not answer in time is as good as gone, and
// the agent registers again.
const callTimeout = 15 * time.Second

// Client is an agent's side of the link: the agent.Manager of an agent
// whose managers are on other machines.
type Client struct {
	// mu guards addr, the manager the client talks to now, and addrs,
	// every manager it knows (from its last registration), to move to
	// when that one goes.
	mu    sync.Mutex
	addr  string
	addrs []string
	// instance is random per client: it tells this agent's
	// registrations from another agent's with the same node ID.
	instance string
	// tr is http's transport, replaced when the node's certificate is
	// (SetIdentity).
	tr   *transports
	http *http.Client
	// notBefore (Unix nanoseconds) holds requests back until the time
	// the manager last asked to wait with Retry-After.
	notBefore atomic.Int64
	// logs answers the managers' log requests (logs.go); nil: none.
	logs LogFunc
	// trust is the TrustDigest of the roots the node trusts ("" for a
	// join); trustCh tells the node when a manager trusts others.
	trust   atomic.Value
	trustCh chan struct{}
}

// maxRetryAfter bounds how long a Retry-After holds the client back.
const maxRetryAfter = time.Minute

var _ agent.Manager = (*Client)(nil)

// NewClient returns a client of the managers' agent port at addr
// (HOST:PORT) for the node id: it presents the node's certificate and
// talks only to a manager of the node's cluster. Its connections come
// from nodeAddr, the node's address (empty: the system picks): the
// managers accept a registration only from the address it names.
func NewClient(addr string, id *ca.NodeIdentity, nodeAddr string) (*Client, error) {
	c, err := newClient(addr, ca.ClientConfig(id), nodeAddr)
	if err != nil {
		return nil, err
	}
	c.trust.Store(id.Root.TrustDigest())
	return c, nil
}

func newClient(addr string, tlsConf *tls.Config, nodeAddr string) (*Client, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("invalid manager address %q: want HOST:PORT", addr)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}
	if nodeAddr != "" {
		ip := net.ParseIP(nodeAddr)
		if ip == nil {
			return nil, fmt.Errorf("invalid node address %q: want an IP address", nodeAddr)
		}
		// Binding it tells at once whether it is one of this machine's.
		l, err := net.Listen("tcp", net.JoinHostPort(nodeAddr, "0"))
		if err != nil {
			return nil, fmt.Errorf("node address %s is not an address of this machine: %w (pass --addr with one of its addresses)", nodeAddr, err)
		}
		l.Close()
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	mk := func(conf *tls.Config) *http.Transport {
		return &http.Transport{
			DialContext:         dialer.DialContext,
			TLSClientConfig:     conf,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	tr := &transports{mk: mk, cur: mk(tlsConf)}
	return &Client{addr: addr, addrs: []string{addr}, instance: newSessionID(), tr: tr, http: &http.Client{Transport: tr}, trustCh: make(chan struct{}, 1)}, nil
}

// Join is a new node's first request: over TLS, after checking that the
// manager at addr shows the cluster CA that token names (nothing is sent
// otherwise), it sends token and a request for a key made here, and
// returns the node's identity: its certificate, key and the cluster CA,
// all PEM, for ca.SaveNodeIdentity. The key never leaves the node.
func Join(ctx context.Context, addr, token, nodeAddr string) (certPEM, keyPEM, caPEM []byte, err error) {
	tok, err := ca.ParseToken(token)
	if err != nil {
		return nil, nil, nil, &rejectedError{msg: err.Error()}
	}
	c, err := newClient(addr, ca.JoinClientConfig(tok), nodeAddr)
	if err != nil {
		return nil, nil, nil, err
	}
	defer c.Close()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return nil, nil, nil, err
	}
	var out joinAnswer
	if err := c.call(ctx, http.MethodPost, pathJoin, joinRequest{Token: token, CSR: string(csrPEM)}, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusBadRequest {
			return nil, nil, nil, &rejectedError{msg: fmt.Sprintf("join: refused by the manager at %s: %s", addr, se.Message)}
		}
		return nil, nil, nil, fmt.Errorf("join: %w", err)
	}
	// Checked here too: a node must never save an identity it cannot use,
	// nor trust a root other than the one its token names.
	id, err := ca.NewNodeIdentity([]byte(out.Cert), keyPEM, []byte(out.CA))
	if err == nil && !id.Root.Trusts(tok.Digest) {
		err = errors.New("its CA is not the one the join token names")
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("join: the manager at %s answered an unusable certificate: %w", addr, err)
	}
	return []byte(out.Cert), keyPEM, []byte(out.CA), nil
}

// Addr is the managers' agent port the client talks to.
func (c *Client) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// maxManagers bounds the managers a client keeps from an answer.
const maxManagers = 16

// setManagers keeps the managers a registration named, the current one
// first.
func (c *Client) setManagers(all []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := []string{c.addr}
	for _, a := range all {
		if len(list) == maxManagers {
			break
		}
		if _, _, err := net.SplitHostPort(a); err == nil && a != c.addr {
			list = append(list, a)
		}
	}
	c.addrs = list
}

// moveOn picks the manager the next registration goes to: the leader a
// refusal named (a manager of the cluster said so, over mutual TLS), or
// else the next one the client knows.
func (c *Client) moveOn(leader string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, _, err := net.SplitHostPort(leader); err == nil {
		if !slices.Contains(c.addrs, leader) && len(c.addrs) < maxManagers {
			c.addrs = append(c.addrs, leader)
		}
		c.addr = leader
		return
	}
	for i, a := range c.addrs {
		if a == c.addr {
			c.addr = c.addrs[(i+1)%len(c.addrs)]
			return
		}
	}
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// StatusError is an error answer of the manager.
type StatusError struct {
	Addr       string
	StatusCode int
	Message    string
	// Leader is the leader's cluster port a follower named.
	Leader string
}

func (e *StatusError) Error() string { return fmt.Sprintf("manager at %s: %s", e.Addr, e.Message) }

// rejectedError is a refusal that retrying cannot change: the agent gives
// up on it (it wraps agent.ErrRejected).
type rejectedError struct {
	msg string
	// managerNode: the node is a manager, and the certificate a worker's
	// (ErrManagerNode).
	managerNode bool
}

func (e *rejectedError) Error() string { return e.msg }
func (e *rejectedError) Unwrap() error { return agent.ErrRejected }

// Is makes a refusal of a worker certificate for a manager's node match
// ErrManagerNode too.
func (e *rejectedError) Is(target error) bool { return target == ErrManagerNode && e.managerNode }

// ErrManagerNode is the refusal of a registration with a worker
// certificate for a node the cluster records as a manager: a worker
// promoted while its agent was away, before it renewed its certificate.
var ErrManagerNode = errors.New("the node is a manager: its worker certificate cannot register it")

// removedError is the refusal of a node an operator removed (it wraps
// agent.ErrRemoved).
type removedError struct{ msg string }

func (e *removedError) Error() string { return e.msg }
func (e *removedError) Unwrap() error { return agent.ErrRemoved }

// send makes a request and returns the response of a 2xx answer; any
// other answer becomes an error.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	return c.sendWith(ctx, method, path, body, nil)
}

// sendWith is send with the request headers hdr added.
func (c *Client) sendWith(ctx context.Context, method, path string, body any, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s request: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	addr := c.Addr()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, rd)
	if err != nil {
		return nil, err
	}
	if err := c.holdBack(ctx); err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set(headerInstance, c.instance)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the manager at %s: %w", addr, err)
	}
	c.noteTrust(resp.Header)
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	c.retryAfter(resp.Header.Get("Retry-After"))
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e api.Error
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, &rejectedError{msg: fmt.Sprintf("join refused by the manager at %s: %s", addr, msg),
			managerNode: resp.StatusCode == http.StatusForbidden && resp.Header.Get(headerNodeRole) == "manager"}
	}
	return nil, &StatusError{Addr: addr, StatusCode: resp.StatusCode, Message: msg, Leader: resp.Header.Get(headerLeader)}
}

// retryAfter holds the next requests back for the seconds of a
// Retry-After header (up to maxRetryAfter), so that an agent refused for
// registering too often waits as long as the manager asked.
func (c *Client) retryAfter(h string) {
	secs, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || secs <= 0 {
		return
	}
	c.notBefore.Store(time.Now().Add(min(time.Duration(secs)*time.Second, maxRetryAfter)).UnixNano())
}

// holdBack waits until the time a Retry-After named, or ctx ends.
func (c *Client) holdBack(ctx context.Context) error {
	wait := time.Until(time.Unix(0, c.notBefore.Load()))
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call makes a request bounded by callTimeout and decodes its answer into
// out (unless nil).
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("manager at %s: decode %s answer: %w", c.Addr(), path, err)
	}
	return nil
}

// Register opens a session for the node.
func (c *Client) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	var out registered
	if err := c.call(ctx, http.MethodPost, pathRegister, reg, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusGone {
			// (The manager's message names the node and says why.)
			return nil, &removedError{msg: fmt.Sprintf("refused by the manager at %s: %s", c.Addr(), se.Message)}
		}
		if errors.As(err, &se) && se.StatusCode == http.StatusBadRequest {
			// What the node says of itself is wrong (its address, its
			// labels): the same registration would be refused again.
			return nil, &rejectedError{msg: fmt.Sprintf("register node %s: refused by the manager at %s: %s", reg.NodeID, c.Addr(), se.Message)}
		}
		// This manager is gone or follows: the next try goes to the
		// leader it named, or to another manager.
		leader := ""
		if errors.As(err, &se) {
			leader = se.Leader
		}
		c.moveOn(leader)
		return nil, fmt.Errorf("register node %s: %w", reg.NodeID, err)
	}
	c.setManagers(out.Managers)
	if out.SessionID == "" {
		return nil, fmt.Errorf("register node %s: the manager at %s answered no session", reg.NodeID, c.Addr())
	}
	s := &session{c: c, path: pathSessions + out.SessionID}
	c.mu.Lock()
	logs := c.logs
	c.mu.Unlock()
	if logs != nil {
		var ctx context.Context
		ctx, s.stopLogs = context.WithCancel(context.Background())
		go s.serveLogs(ctx, logs)
	}
	return s, nil
}

// session is an open session on the managers.
type session struct {
	c    *Client
	path string
	// broken is set once an Assignments call failed: its answer may have
	// been lost on the way, so the session can no longer be trusted to
	// say everything, and the agent must register again (it does).
	broken atomic.Bool
	// stopLogs ends the answering of log requests; nil when none.
	stopLogs context.CancelFunc
}

var errBroken = errors.New("session broken by an earlier failure: register again")

// Assignments long-polls for the next change to the node's tasks.
func (s *session) Assignments(ctx context.Context) (api.Assignments, error) {
	if s.broken.Load() {
		return api.Assignments{}, errBroken
	}
	resp, err := s.c.send(ctx, http.MethodGet, s.path+suffixAssign, nil)
	if err != nil {
		s.broken.Store(true)
		return api.Assignments{}, fmt.Errorf("assignments: %w", err)
	}
	defer resp.Body.Close()
	var as api.Assignments
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		s.broken.Store(true)
		if ctx.Err() != nil {
			return api.Assignments{}, ctx.Err()
		}
		return api.Assignments{}, fmt.Errorf("assignments: decode the answer of the manager at %s: %w", s.c.Addr(), err)
	}
	return as, nil
}

// Report sends task status changes.
func (s *session) Report(ctx context.Context, reports []api.TaskReport) error {
	if err := s.c.call(ctx, http.MethodPost, s.path+suffixReport, reports, nil); err != nil {
		return fmt.Errorf("report task status: %w", err)
	}
	return nil
}

// Heartbeat tells the managers the node is alive.
func (s *session) Heartbeat(ctx context.Context) (time.Duration, error) {
	var out heartbeatAnswer
	if err := s.c.call(ctx, http.MethodPost, s.path+suffixBeat, nil, &out); err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	if out.Period <= 0 {
		return 0, fmt.Errorf("heartbeat: the manager at %s answered no period", s.c.Addr())
	}
	return out.Period.D(), nil
}

// Close ends the session on the managers, if they can be reached soon.
func (s *session) Close() {
	if s.stopLogs != nil {
		s.stopLogs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.c.call(ctx, http.MethodDelete, s.path, nil, nil)
}

// FollowRoutes streams what an ingress routes by and the node's networking
// follows: reset receives every service, task, network and node (first,
// and again whenever the managers' state was
// replaced), apply each committed change after that. It returns when ctx
// ends, the stream breaks, or the manager stays silent past its
// keep-alives; synced reports whether the first reset arrived.
func (c *Client) FollowRoutes(ctx context.Context, reset func(Routes), apply func(...api.Event)) (synced bool, err error) {
	return c.followRoutes(ctx, reset, apply, nil)
}

// FollowIngressRoutes is FollowRoutes for a node that runs an ingress:
// secrets receives the secrets the services' labels read (usersFile),
// decrypted, before the services that need them reach reset or apply.
func (c *Client) FollowIngressRoutes(ctx context.Context, reset func(Routes), apply func(...api.Event), secrets func(reset bool, s []*api.Secret)) (synced bool, err error) {
	return c.followRoutes(ctx, reset, apply, secrets)
}

func (c *Client) followRoutes(ctx context.Context, reset func(Routes), apply func(...api.Event), secrets func(bool, []*api.Secret)) (synced bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	silent := errors.New("no word from the manager for " + (3 * routeKeepBeat).String())
	watchdog := time.AfterFunc(3*routeKeepBeat, func() { cancel(silent) })
	defer watchdog.Stop()
	var hdr http.Header
	if secrets != nil {
		hdr = http.Header{headerIngressSecrets: {"1"}}
	}
	resp, err := c.sendWith(ctx, http.MethodGet, pathRoutes, nil, hdr)
	if err != nil {
		if errors.Is(context.Cause(ctx), silent) {
			err = silent
		}
		return false, fmt.Errorf("routes: %w", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var u routeUpdate
		if err := dec.Decode(&u); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return synced, cause
			}
			if errors.Is(err, io.EOF) {
				return synced, fmt.Errorf("routes: the manager at %s closed the stream", c.Addr())
			}
			return synced, fmt.Errorf("routes: %w", err)
		}
		watchdog.Reset(3 * routeKeepBeat)
		if secrets != nil && (u.Reset || len(u.Secrets) > 0) {
			secrets(u.Reset, u.Secrets)
		}
		switch {
		case u.Reset:
			reset(Routes{Services: u.Services, Tasks: u.Tasks, Networks: u.Networks, Nodes: u.Nodes})
			synced = true
		case !synced:
			return false, fmt.Errorf("routes: the manager at %s sent changes before the full set", c.Addr())
		case len(u.Events) > 0:
			apply(u.Events...)
		}
	}
}
