package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/httpjson"
)

// PathLeave is `swarm leave` on a node's own API socket (a manager's,
// or a worker's, which serves nothing else): the node leaves the
// cluster. It is never forwarded: it is about the node that answers.
const PathLeave = "/v1/swarm/leave"

// ErrLeft is why a node's process stops after `swarm leave`.
var ErrLeft = errors.New("node left the swarm")

// leaveTimeout bounds a leave: the manager's step out of Raft, then
// stopping the node's tasks.
const leaveTimeout = 2 * time.Minute

// nodeLeave is a node's own agent as `swarm leave` needs it: stopped on
// its own (cancel, done), then its tasks; left is closed once the node
// left, and the process should stop.
type nodeLeave struct {
	ag     *agent.Agent
	cancel context.CancelFunc
	done   chan struct{}

	left chan struct{}
	once sync.Once
}

func newNodeLeave() nodeLeave { return nodeLeave{done: make(chan struct{}), left: make(chan struct{})} }

// stopTasks stops the node's agent, so that nothing starts a task again,
// then every task it ran.
func (l *nodeLeave) stopTasks(ctx context.Context) error {
	l.cancel()
	select {
	case <-l.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.ag.StopAllTasks(ctx)
}

func (l *nodeLeave) finish() { l.once.Do(func() { close(l.left) }) }

func (l *nodeLeave) hasLeft() bool {
	select {
	case <-l.left:
		return true
	default:
		return false
	}
}

// clusterFiles are what make a data folder a node of its cluster: after
// a leave they go, as Swarm wipes its state, so the next start joins
// anew (with a token) rather than as the node that left.
var clusterFiles = []string{"raft", "ca", "join-token", managerTokenFile, "node-id", ca.NodeCertFile, ca.NodeKeyFile, ca.RootCertFile, "shoal.sock"}

func wipeClusterFiles(dir interface{ Join(...string) string }) error {
	var errs []error
	for _, f := range clusterFiles {
		if err := os.RemoveAll(dir.Join(f)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// leaveRefusal is Swarm's refusal of a manager's leave without --force,
// or "" when this node takes no part in Raft (demoted: it may leave as a
// worker does).
func (d *Dev) leaveRefusal() string {
	members, err := d.mgr.Raft().Members()
	if err != nil {
		return "You are attempting to leave the swarm on a node that is participating as a manager. Use `--force` to suppress this message."
	}
	inRaft, reachable := false, 0
	tx := d.mgr.Store().Read()
	for _, m := range members {
		if m.ID == d.nodeID {
			inRaft = true
			reachable++
		} else if n := tx.Node(m.ID); n != nil && n.Status.State == api.NodeStateReady {
			reachable++
		}
	}
	if !inRaft {
		return ""
	}
	unreachable := len(members) - reachable
	msg := "You are attempting to leave the swarm on a node that is participating as a manager. "
	switch {
	case reachable == 1 && unreachable == 0:
		return msg + "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message."
	case reachable-2 <= unreachable:
		msg += fmt.Sprintf("Removing this node leaves %d managers out of %d. Without a Raft quorum your swarm will be inaccessible "+
			"until a majority of its managers is back. ", reachable-1, reachable+unreachable)
	default:
		msg += "The safe way is to demote it first (`shoal node demote`). "
	}
	return msg + "Use `--force` to suppress this message."
}

// serveLeave is `swarm leave` on a manager: refused without force while
// it is a voter; with force it takes itself out of Raft when that keeps
// the quorum (a demote through the leader; otherwise it leaves Raft as
// it is, as Swarm's --force), stops its tasks, answers, and the process
// stops (Left), its cluster files removed.
func (d *Dev) serveLeave(w http.ResponseWriter, r *http.Request) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if msg := d.leaveRefusal(); msg != "" && !force {
		httpjson.WriteError(w, http.StatusServiceUnavailable, msg)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if d.leaveRefusal() != "" {
		if err := d.demoteSelf(ctx); err != nil {
			d.log.Warn("leaving the swarm still in raft: it could not take itself out", "err", err)
		} else {
			d.log.Info("left raft")
		}
	}
	d.leave.complete(ctx, w, d.log)
}

// demoteSelf demotes this manager as `node demote self` does, through
// the leader (a leader hands over first).
func (d *Dev) demoteSelf(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/nodes/"+d.nodeID+"/demote", http.NoBody)
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}}
	d.apiHandler(d.api).ServeHTTP(rec, req)
	if rec.code >= 300 {
		return fmt.Errorf("demote: %d %s", rec.code, rec.body.Bytes())
	}
	return nil
}

// complete stops the node's tasks, answers the leave (sent before the
// process stops) and marks the node left.
func (l *nodeLeave) complete(ctx context.Context, w http.ResponseWriter, log *slog.Logger) {
	if err := l.stopTasks(ctx); err != nil {
		httpjson.WriteError(w, http.StatusInternalServerError, "stop the node's tasks: "+err.Error())
		return
	}
	log.Info("node left the swarm")
	w.WriteHeader(http.StatusNoContent)
	_ = http.NewResponseController(w).Flush()
	l.finish()
}

// Left is closed once the node left the swarm (`swarm leave`): the
// process should stop; Close then removes its cluster files.
func (d *Dev) Left() <-chan struct{} { return d.leave.left }

// Left: see Dev.Left.
func (a *Agent) Left() <-chan struct{} { return a.leave.left }

// serveLeave is `swarm leave` on a worker: it stops its agent (its node
// goes down once its heartbeats stop) and its tasks, answers, and the
// process stops (Left), its certificate removed.
func (a *Agent) serveLeave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	a.leave.complete(ctx, w, a.log)
}

// notAManager is a worker's answer to every API call but a leave, in
// docker's words.
func notAManager(w http.ResponseWriter, _ *http.Request) {
	httpjson.WriteError(w, http.StatusServiceUnavailable, "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. "+
		"Please run this command on a manager node or promote the current node to a manager.")
}

// serveSocket serves the worker's API socket, DATA/shoal.sock (0600, as
// a manager's): `swarm leave`, and docker's refusal for anything else.
// A promoted node's manager serves the full API there.
func (a *Agent) serveSocket(log *slog.Logger) error {
	// We hold the data folder's lock, so a socket file left there is stale.
	ln, err := listenPrivate(a.dir.Join("shoal.sock"), "socket")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathLeave, a.serveLeave)
	mux.HandleFunc("/", notAManager)
	a.sock = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.sock.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("socket server stopped", "err", err)
		}
	}()
	return nil
}
