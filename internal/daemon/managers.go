package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// The managers' own requests on the cluster port, beside the agent link.
const (
	// pathManagerJoin admits a manager by the manager token (no
	// certificate yet) and hands it the cluster's secrets.
	pathManagerJoin = "/manager/v1/join"
	// pathMembers asks the leader to add the calling manager to Raft.
	pathMembers = "/manager/v1/members"
	// pathAPI prefixes the API writes a follower forwards to the leader.
	pathAPI = "/manager/v1/api"
)

// maxManagerJoinBody bounds a manager join request (a token).
const maxManagerJoinBody = 64 << 10

// managerJoinRequest asks for what a manager needs. It sends no CSR: a
// manager issues its own certificates with the CA key it gets
// (ca.SelfCert).
type managerJoinRequest struct {
	Token string `json:"Token"`
}

// managerJoinAnswer is what a new manager needs to act as any other:
// its node ID, and the cluster-wide secrets every manager holds (see
// "Managers share the cluster's secrets" in docs/architecture.md).
type managerJoinAnswer struct {
	NodeID string `json:"NodeID"`
	CA     string `json:"CA"`
	// SecretKey is the key that seals the secrets in Raft and the CA key.
	SecretKey []byte `json:"SecretKey"`
	// CAKeySealed is the cluster CA's key, sealed with SecretKey.
	CAKeySealed []byte `json:"CAKeySealed"`
	// UnlockKey is the cluster's current unlock key when autolock is on:
	// the new manager keeps its secrets key locked from the start.
	UnlockKey    []byte `json:"UnlockKey,omitempty"`
	WorkerToken  string `json:"WorkerToken"`
	ManagerToken string `json:"ManagerToken"`
}

type addMemberRequest struct {
	Addr string `json:"Addr"`
	// Nonvoter asks to be added without a vote: a joining manager is
	// one until it has started, then asks again without it (promoted).
	Nonvoter bool `json:"Nonvoter,omitempty"`
}

// addMemberAnswer is the leader's applied index once the member is added:
// the new manager waits until its own store has it, so its folder holds
// the log before anything else it does can fail.
type addMemberAnswer struct {
	Index uint64 `json:"Index"`
}

// managerTokenFile keeps the manager join token beside join-token.
const managerTokenFile = "manager-token"

// clusterHandler serves the cluster port: the managers' paths, and the
// agent link for everything else.
func (d *Dev) clusterHandler(link http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathManagerJoin, d.serveManagerJoin)
	mux.Handle("GET "+pathUnlockKey, d.requireManager(http.HandlerFunc(d.serveUnlockKey)))
	mux.Handle("POST "+pathMembers, d.requireManager(http.HandlerFunc(d.serveAddMember)))
	mux.Handle("POST "+pathPromoted, d.requireManager(http.HandlerFunc(d.servePromoted)))
	mux.Handle(pathAPI+"/", d.requireManager(http.StripPrefix(pathAPI, indexHeader(d))))
	mux.Handle("/", link)
	return mux
}

// requireManager lets through only requests whose certificate is a
// manager's of this cluster, and not of a removed or demoted node.
func (d *Dev) requireManager(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := ca.PeerIdentity(d.issuer.CA().Trust, r.TLS, time.Now())
		if err == nil {
			err = id.Require(ca.RoleManager)
		}
		if err == nil {
			tx := d.mgr.Store().Read()
			if tx.NodeRemoved(id.NodeID) {
				err = fmt.Errorf("node %s was removed", id.NodeID)
			} else if n := tx.Node(id.NodeID); n != nil && n.Spec.Role != api.RoleManager {
				// Demoted: its certificate still says manager until it
				// expires, the cluster's record does not. (A manager that
				// is joining has no record yet.)
				err = fmt.Errorf("node %s is not a manager (demoted): join again as a worker", id.NodeID)
			}
		}
		if err != nil {
			d.log.Warn("manager request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			httpjson.WriteError(w, http.StatusForbidden, err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveManagerJoin admits a manager by the manager token: it names the
// node and sends it the cluster's secrets. The token
// is checked before anything secret is read; the joining node checked
// this manager's certificate against the token's CA digest before it
// sent the token.
func (d *Dev) serveManagerJoin(w http.ResponseWriter, r *http.Request) {
	var req managerJoinRequest
	if err := httpjson.Decode(w, r, &req, maxManagerJoinBody); err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	role, err := d.issuer.Admit(req.Token)
	if err == nil && role != ca.RoleManager {
		err = fmt.Errorf("%w: a worker token joins workers (`shoal agent`); a manager needs `shoal swarm join-token manager`", ca.ErrTokenRejected)
	}
	if errors.Is(err, ca.ErrTokensUnavailable) {
		httpjson.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		d.log.Warn("manager join refused", "remote", r.RemoteAddr, "err", err)
		httpjson.WriteError(w, http.StatusUnauthorized, err.Error())
		return
	}
	d.answerJoin(w, r, api.NewID())
}

// answerJoin sends the manager joining as nodeID the cluster's secrets.
func (d *Dev) answerJoin(w http.ResponseWriter, r *http.Request, nodeID string) {
	jt, err := d.currentTokens()
	if err != nil {
		httpjson.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	raw := d.lock.raw
	var kek []byte
	if lock := d.mgr.Store().Read().Autolock(); lock.On {
		k := d.lock.key(lock.KeyID)
		if k == nil {
			httpjson.WriteError(w, http.StatusServiceUnavailable, "this manager has not received the cluster's unlock key yet: try again, or join through another manager")
			return
		}
		kek = k.Bytes()
	}
	// The root the token names: during a CA rotation the old one, which
	// the new manager's Raft log then moves on from.
	root := d.issuer.CA().Token
	sealed, err := root.SealKey(d.mgr.SecretKey())
	if err != nil {
		httpjson.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	d.log.Info("manager joined", "node", nodeID, "remote", r.RemoteAddr)
	httpjson.Write(w, http.StatusOK, managerJoinAnswer{NodeID: nodeID, CA: string(root.CertPEM),
		SecretKey: raw, CAKeySealed: sealed, UnlockKey: kek, WorkerToken: jt.Worker.String(), ManagerToken: jt.Manager.String()})
}

// headerMemberLeader names, on a follower's refusal to add a member, the
// leader's cluster address, where the joining manager asks again.
const headerMemberLeader = "Shoal-Leader"

// serveAddMember adds the calling manager (its certificate's node) to
// Raft at the address it names, on the leader. A follower does not
// forward it: the leader would see the follower's certificate, not the
// caller's, and move the follower's own Raft entry to the caller's
// address. It names the leader instead (headerMemberLeader).
func (d *Dev) serveAddMember(w http.ResponseWriter, r *http.Request) {
	if !d.mgr.IsLeader() {
		if leader := d.mgr.Raft().LeaderAddr(); leader != "" {
			w.Header().Set(headerMemberLeader, leader)
		}
		httpjson.WriteError(w, http.StatusServiceUnavailable, "not the leader: a manager is added to Raft by the leader")
		return
	}
	var req addMemberRequest
	if err := httpjson.Decode(w, r, &req, 4096); err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, _, err := net.SplitHostPort(req.Addr); err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, fmt.Sprintf("invalid Raft address %q: want HOST:PORT", req.Addr))
		return
	}
	id, _ := ca.PeerIdentity(d.issuer.CA().Trust, r.TLS, time.Now())
	add, as := d.mgr.Raft().AddVoter, "voter"
	if req.Nonvoter {
		add, as = d.mgr.Raft().AddNonvoter, "non-voter"
	}
	if err := add(id.NodeID, req.Addr); err != nil {
		httpjson.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	d.log.Info("manager added to raft", "node", id.NodeID, "addr", req.Addr, "as", as)
	httpjson.Write(w, http.StatusOK, addMemberAnswer{Index: d.mgr.Store().Index()})
}

// joinManager joins the cluster of the manager at addr with a manager
// token: it checks the manager's CA against the token first (nothing is
// sent otherwise), then gets its node ID and the cluster's secrets.
func joinManager(ctx context.Context, addr, token string) (*managerJoinAnswer, error) {
	tok, err := ca.ParseToken(token)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(managerJoinRequest{Token: token})
	c := &http.Client{Timeout: joinTimeout, Transport: &http.Transport{TLSClientConfig: ca.JoinClientConfig(tok), TLSHandshakeTimeout: 10 * time.Second}}
	defer c.CloseIdleConnections()
	var out managerJoinAnswer
	if err := postJSON(ctx, c, "https://"+addr+pathManagerJoin, body, &out); err != nil {
		return nil, fmt.Errorf("join the managers at %s: %w", addr, err)
	}
	return checkJoinAnswer(&out, addr, func(d string) bool { return d == tok.Digest })
}

// checkJoinAnswer checks that a manager's join answer is of the CA of
// digest, names a node, and that its secret key opens its CA key.
func checkJoinAnswer(out *managerJoinAnswer, addr string, trusted func(digest string) bool) (*managerJoinAnswer, error) {
	root, err := ca.ParseRootCert([]byte(out.CA))
	if err == nil && !trusted(root.Digest()) {
		err = errors.New("its CA is not the one the join token names")
	}
	if err == nil && len(out.NodeID) != api.IDLength {
		err = fmt.Errorf("invalid node ID %q", out.NodeID)
	}
	if err == nil {
		var k *secretkey.Key
		if k, err = secretkey.New(out.SecretKey); err == nil {
			_, err = ca.OpenRootCA([]byte(out.CA), out.CAKeySealed, k)
		}
		if err == nil && out.UnlockKey != nil {
			_, err = unlockkey.FromBytes(out.UnlockKey)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("join the managers at %s: unusable answer: %w", addr, err)
	}
	return out, nil
}

// saveJoined keeps what a joining manager got in its data folder, as a
// manager that bootstrapped keeps its own: the secret key (after Raft
// opened its log, so a key never sits beside a missing log), the CA and
// the tokens.
func (d *Dev) saveJoined(j *managerJoinAnswer) error {
	file := j.SecretKey
	if j.UnlockKey != nil {
		k, err := unlockkey.FromBytes(j.UnlockKey)
		if err != nil {
			return err
		}
		if file, err = unlockkey.Lock(k, j.SecretKey); err != nil {
			return err
		}
		d.lock.add(k)
		d.lock.fileID = k.ID()
	}
	d.lock.raw = j.SecretKey
	if err := writePrivate(d.secretKeyPath(), file); err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir.Join("ca"), 0o700); err != nil {
		return err
	}
	if err := writePrivate(d.dir.Join("ca", ca.RootKeyFile), j.CAKeySealed); err != nil {
		return err
	}
	if err := writePrivate(d.dir.Join("ca", ca.RootCertFile), []byte(j.CA)); err != nil {
		return err
	}
	if j.UnlockKey != nil {
		// Under autolock Raft holds the tokens that admit: the folder
		// gets decoys (autolock_tokens.go).
		root, err := ca.ParseRootCert([]byte(j.CA))
		if err != nil {
			return err
		}
		d.lock.scrubbed.Store(true)
		return d.writeDecoyTokens(root)
	}
	if err := writePrivate(d.dir.Join(managerTokenFile), []byte(j.ManagerToken+"\n")); err != nil {
		return err
	}
	// join-token last: it marks a folder that holds a cluster.
	return writePrivate(d.dir.Join("join-token"), []byte(j.WorkerToken+"\n"))
}

// addSelf asks the leader, through the manager at addr, to add this
// manager to Raft (as a non-voter, or a voter), retrying until it has or
// ctx ends.
func (d *Dev) addSelf(ctx context.Context, addr string, nonvoter bool) error {
	c := &http.Client{Transport: d.peerTransport(), Timeout: 30 * time.Second}
	body, _ := json.Marshal(addMemberRequest{Addr: d.agentAddr, Nonvoter: nonvoter})
	wait := 100 * time.Millisecond
	via := addr
	for {
		leader, idx, err := d.askToBeAdded(ctx, c, via, body)
		if err == nil {
			if err := d.mgr.Store().WaitIndex(ctx, idx); err != nil {
				return fmt.Errorf("added to raft, but the log did not reach this manager: %w", err)
			}
			return nil
		}
		d.log.Warn("not yet added to raft; retrying", "via", via, "err", err, "retry_in", wait)
		// A follower names the leader; without one, the manager we
		// joined through again.
		via = addr
		if leader != "" {
			via = leader
		}
		if !sleep(ctx, wait) {
			return fmt.Errorf("join raft through %s: %w (last error: %v)", addr, ctx.Err(), err)
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// askToBeAdded asks the manager at addr to add this one to Raft, and
// returns the leader's applied index then; a follower's refusal names the
// leader.
func (d *Dev) askToBeAdded(ctx context.Context, c *http.Client, addr string, body []byte) (leader string, index uint64, err error) {
	h, b, err := post(ctx, c, "https://"+addr+pathMembers, body)
	if err != nil {
		if h != nil {
			leader = h.Get(headerMemberLeader)
			if _, _, perr := net.SplitHostPort(leader); perr != nil {
				leader = ""
			}
		}
		return leader, 0, err
	}
	var a addMemberAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return "", 0, fmt.Errorf("the answer to the request to join raft: %w", err)
	}
	return "", a.Index, nil
}

// postJSON posts body and decodes a 2xx answer into out (unless nil).
func postJSON(ctx context.Context, c *http.Client, url string, body []byte, out any) error {
	_, b, err := post(ctx, c, url, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// post posts the JSON body and returns the answer's header and body (up
// to 1MiB); an answer not 2xx is an error saying the answer's message.
func post(ctx context.Context, c *http.Client, url string, body []byte) (http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return send(c, req)
}

// send sends req and returns the answer's header and body (up to 1MiB);
// an answer not 2xx is an error saying the answer's message.
func send(c *http.Client, req *http.Request) (http.Header, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.Header, nil, err
	}
	if resp.StatusCode >= 300 {
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return resp.Header, b, fmt.Errorf("%s (%d)", e.Message, resp.StatusCode)
		}
		return resp.Header, b, fmt.Errorf("answer %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.Header, b, nil
}

// writePrivate replaces the file at path with data, mode 0600.
func writePrivate(path string, data []byte) error { return ca.WriteFile0600(path, data) }

// managerLink is the agent.Manager of a manager's own agent: the local
// dispatcher while this manager leads, the leader's agent link (with
// this manager's certificate) while it follows.
type managerLink struct {
	d *Dev

	mu      sync.Mutex
	clients map[string]*leaderClient
}

// leaderClient is a client of a leader's agent link and the certificate
// it presents.
type leaderClient struct {
	*agentlink.Client
	id *ca.NodeIdentity
}

func (l *managerLink) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	d := l.d
	if d.stream == nil || d.mgr.IsLeader() {
		return localManager{d.mgr.Dispatcher()}.Register(ctx, reg)
	}
	wctx, cancel := context.WithTimeout(ctx, leaderWait)
	addr, err := d.mgr.Raft().WaitLeaderAddr(wctx)
	cancel()
	if err != nil {
		return nil, err
	}
	if addr == d.agentAddr {
		return nil, errors.New("leadership is changing; register again")
	}
	c, err := l.client(addr)
	if err != nil {
		return nil, err
	}
	return c.Register(ctx, reg)
}

func (l *managerLink) client(addr string) (*agentlink.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id, _ := l.d.self.Identity()
	if c := l.clients[addr]; c != nil {
		// The manager's certificate was renewed since: present the new
		// one, not the old until it expires.
		if c.id != id {
			c.SetIdentity(id)
			c.id = id
		}
		return c.Client, nil
	}
	c, err := agentlink.NewClient(addr, id, l.d.addr)
	if err != nil {
		return nil, err
	}
	// The leader reads this node's task output over the link, as a
	// worker's.
	c.SetLogs(l.d.rts.taskLogs)
	if l.clients == nil {
		l.clients = map[string]*leaderClient{}
	}
	l.clients[addr] = &leaderClient{Client: c, id: id}
	return c, nil
}

func (l *managerLink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.clients {
		c.Close()
	}
}

// clusterAddr is addr's advertised form: the node's address when it
// listens on every address.
func clusterAddr(ln net.Listener, nodeAddr string) string {
	a := ln.Addr().(*net.TCPAddr)
	if a.IP.IsUnspecified() {
		return net.JoinHostPort(nodeAddr, strconv.Itoa(a.Port))
	}
	return ln.Addr().String()
}

// managerAddrs is the leader's cluster port ("" when none is known) and
// every manager's, for the agents (agentlink.ServerConfig.Managers).
func (d *Dev) managerAddrs() (string, []string) {
	members, err := d.mgr.Raft().Members()
	if err != nil {
		return "", nil
	}
	var all []string
	for _, m := range members {
		if m.Addr != string(cluster.LocalAddress) {
			all = append(all, m.Addr)
		}
	}
	leader := d.mgr.Raft().LeaderAddr()
	if leader == string(cluster.LocalAddress) {
		leader = ""
	}
	return leader, all
}

// promoteSelf makes this manager a voter once it has started, when it is
// a non-voter: it joined, or it stopped after it joined and before this
// point. Its own node's registration is applied, so its log has caught
// up with the leader's: its vote will not hold up the commits. join is
// where it joined through, asked when no leader is known.
func (d *Dev) promoteSelf(ctx context.Context, join string) error {
	nonvoter, err := d.mgr.Raft().Nonvoter(d.nodeID)
	if err != nil || !nonvoter {
		return err
	}
	via := d.mgr.Raft().LeaderAddr()
	if via == "" {
		via = join
	}
	if via == "" {
		return errors.New("this manager is a non-voter of Raft and knows no leader to promote it")
	}
	if err := d.addSelf(ctx, via, false); err != nil {
		return fmt.Errorf("become a voter: %w", err)
	}
	// The leader committed the change; this manager sees it with the
	// next entries it receives (Raft tells of no configuration change).
	for {
		if nonvoter, err = d.mgr.Raft().Nonvoter(d.nodeID); err != nil || !nonvoter {
			d.log.Info("this manager is a voter of raft now")
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("become a voter: the leader added this manager, but its raft configuration does not say so yet: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
