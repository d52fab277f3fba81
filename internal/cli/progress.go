package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// This file follows services until they converge, drawing progress the way
// the docker CLI (20.10) does without --detach:
//
//	overall progress: 1 out of 2 tasks
//	1/2: running   [==================================================>]
//	2/2: starting  [============================================>      ]
//	verify: Waiting 5 seconds to verify that tasks are stable...
//	verify: Service converged
//
// (docker 23 and later print "verify: Service <id> converged"; shoal keeps
// 20.10's wording.) On a terminal the rows are drawn in place (mpb); otherwise a row is
// printed as a line each time its text changes. The service is re-read on
// every event of its event stream, and each second of the verify countdown.
//
// As docker's, the verify phase ends following only once the tasks have
// stayed converged for the update config's monitor period (5s by default)
// — after create and scale too — so a crash-looping service never reads
// "Service converged". Unlike docker, a task replaced during the countdown
// counts as a failure even when its replacement already runs.

// followKind says what the followed command started, which decides how
// the service's update status ends the wait.
type followKind int

const (
	// followConverge waits for the tasks: service create, scale, and an
	// update that keeps the tasks' spec version (a replica count).
	followConverge followKind = iota
	// followUpdate follows a rolling update the command started: if it
	// pauses or rolls back, the command fails.
	followUpdate
	// followRollback follows a rollback the command started: its
	// completion is success.
	followRollback
)

// followTarget is one service to follow: as the command left it, and
// what the command did to it.
type followTarget struct {
	Service *api.Service
	Kind    followKind
}

// followServices follows each service in turn until it converges, its
// update fails, or ctx ends, and returns the errors of all of them (each
// named after its service when there are several). quiet hides progress
// but still waits. It is meant for stack deploy too: follow each created or
// updated service with followTargetOf(before, after).
//
// Interrupted (SIGINT), it stops following and says, as docker does, that
// the operation goes on in the background.
func (a *app) followServices(ctx context.Context, c *client.Client, targets []followTarget, quiet bool) error {
	sigint := make(chan os.Signal, 1)
	signal.Notify(sigint, os.Interrupt)
	defer signal.Stop(sigint)
	var errs []error
	for _, t := range targets {
		if t.Service.Spec.Mode.IsJob() {
			// A job is not followed to its end (docker's CLI does): its
			// progress is service ls's "K/T completed".
			continue
		}
		err := a.followService(ctx, c, t, quiet, sigint)
		if errors.Is(err, errInterrupted) {
			fmt.Fprintln(a.stdout, "Operation continuing in background.")
			fmt.Fprintf(a.stdout, "Use `shoal service ps %s` to check progress.\n", t.Service.Spec.Name)
			break
		}
		if err != nil && len(targets) > 1 {
			err = fmt.Errorf("%s: %w", t.Service.Spec.Name, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// waitConverged follows one service until its tasks converge.
func (a *app) waitConverged(ctx context.Context, c *client.Client, svc *api.Service, quiet bool) error {
	return a.followServices(ctx, c, []followTarget{{Service: svc, Kind: followConverge}}, quiet)
}

// followTargetOf is what to follow after a command wrote service after
// over before (nil for a service it created): the rolling update it
// started if the tasks' spec version changed or a paused update resumed,
// else the tasks.
func followTargetOf(before, after *api.Service) followTarget {
	if before != nil && (after.SpecVersion != before.SpecVersion || before.UpdatePaused()) {
		return followTarget{Service: after, Kind: followUpdate}
	}
	return followTarget{Service: after, Kind: followConverge}
}

var (
	// errServiceRemoved ends an event stream whose service was removed.
	errServiceRemoved = errors.New("service removed")
	// errInterrupted ends following on SIGINT.
	errInterrupted = errors.New("interrupted")
)

// followService follows one service: it re-reads the service and its
// tasks on each of the service's events and renders them.
func (a *app) followService(ctx context.Context, c *client.Client, t followTarget, quiet bool, interrupt <-chan os.Signal) (err error) {
	var rows rowWriter = discardRows{}
	if !quiet {
		if a.isTTY && hasTermSize(a.stdout) {
			rows = newTTYRows(a.stdout)
		} else {
			rows = newPlainRows(a.stdout)
		}
	}
	defer rows.close()
	view := newProgressView(t.Kind, rows)

	ctx, cancel := context.WithCancel(ctx)
	wake := make(chan struct{}, 1)
	streamDone := make(chan error, 1)
	go func() {
		streamDone <- c.Events(ctx, client.EventFilter{Service: t.Service.ID}, func(ev api.Event) error {
			if ev.Type == api.EventService && ev.Action == api.ActionRemove {
				return errServiceRemoved
			}
			select {
			case wake <- struct{}{}:
			default: // a re-read is already due
			}
			return nil
		})
	}()
	streamEnded := false
	defer func() {
		cancel()
		if !streamEnded {
			<-streamDone
		}
	}()

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var tick <-chan time.Time
		if timer != nil {
			tick = timer.C
		}
		select {
		case <-wake:
		case <-tick:
		case <-interrupt:
			return errInterrupted
		case err := <-streamDone:
			streamEnded = true
			if errors.Is(err, errServiceRemoved) {
				return fmt.Errorf("service %s was removed", t.Service.Spec.Name)
			}
			return err
		}
		snap, err := readSnapshot(ctx, c, t.Service.ID)
		if client.IsNotFound(err) {
			return fmt.Errorf("service %s was removed", t.Service.Spec.Name)
		}
		if err != nil {
			return err
		}
		if done, err := view.step(snap); done {
			return err
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if d, ok := view.nextTick(time.Now()); ok {
			timer = time.NewTimer(d)
		}
	}
}

// readSnapshot reads what the progress view shows of service id.
func readSnapshot(ctx context.Context, c *client.Client, id string) (progressSnapshot, error) {
	svc, err := c.ServiceInspect(ctx, id)
	if err != nil {
		return progressSnapshot{}, err
	}
	tasks, err := c.TaskList(ctx, client.TaskFilter{Service: svc.ID})
	if err != nil {
		return progressSnapshot{}, err
	}
	var nodes []*api.Node
	if svc.Spec.Mode.IsGlobal() {
		if nodes, err = c.NodeList(ctx); err != nil {
			return progressSnapshot{}, err
		}
	}
	return progressSnapshot{Service: svc, Tasks: tasks, Nodes: nodes, Now: time.Now()}, nil
}

// progressSnapshot is the state of a service at one moment.
type progressSnapshot struct {
	Service *api.Service
	Tasks   []*api.Task
	// Nodes are the cluster's nodes; only a global service needs them.
	Nodes []*api.Node
	Now   time.Time
}

// rowWriter shows progress rows: each has an ID ("overall progress", "1/3",
// "verify", "rollback") and a text that changes.
type rowWriter interface {
	set(id, text string)
	drop(id string)
	close()
}

// Progress rendering constants, as the docker CLI's.
const (
	maxProgressBars = 20 // more tasks than this: only the overall line
	maxProgress     = 9  // the number of running in numberedStates
	stateWidth      = 9  // the longest state name
	barWidth        = 50
	maxErrorLength  = 75
)

// numberedStates orders the states a task goes through to running, as the
// docker CLI numbers them (its "allocated", 2, shoal does not have).
var numberedStates = map[api.TaskState]int64{
	api.TaskStateNew:       1,
	api.TaskStatePending:   3,
	api.TaskStateAssigned:  4,
	api.TaskStateAccepted:  5,
	api.TaskStatePreparing: 6,
	api.TaskStateReady:     7,
	api.TaskStateStarting:  8,
	api.TaskStateRunning:   9,
}

// stateBar is docker's progress bar of a task state.
func stateBar(s api.TaskState) string {
	n := min(int(float64(numberedStates[s])/maxProgress*100)/2, barWidth)
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", barWidth-n) + "]"
}

// truncError makes a task error fit on one row, as docker does.
func truncError(s string) string {
	return ellipsis(strings.ReplaceAll(s, "\n", " "), maxErrorLength)
}

// progressView turns snapshots of one service into progress rows and
// decides when following it is over. It reads no clock: time comes with
// the snapshots and ticks, so a scripted sequence renders the same way
// every time.
type progressView struct {
	kind followKind
	out  rowWriter

	started bool
	slotIDs []string // the task rows shown
	// rollback is set while the service rolls back; sawRollback once a
	// rollback started while following.
	rollback    bool
	sawRollback bool
	// reason is why an update rolled back (rollback_started's message).
	reason string
	// convergedAt is when the tasks were last seen become converged (zero
	// while they are not); convergedIDs are the running tasks then; monitor
	// is how long they must stay so.
	convergedAt  time.Time
	convergedIDs string
	monitor      time.Duration
	done         bool
}

func newProgressView(kind followKind, out rowWriter) *progressView {
	return &progressView{kind: kind, out: out}
}

// progressRow is one task row: its ID and the task it shows (nil if none).
type progressRow struct {
	id   string
	task *api.Task
}

// step renders snapshot s. It returns done when following is over, with
// the reason the command fails, if it does.
func (v *progressView) step(s progressSnapshot) (done bool, err error) {
	if v.done {
		return true, nil
	}
	svc := s.Service
	var state, msg string
	if us := svc.UpdateStatus; us != nil {
		state, msg = us.State, us.Message
	}
	var fail error
	switch state {
	case api.UpdateStateUpdating:
		v.rollback = false
	case api.UpdateStatePaused:
		fail = fmt.Errorf("service update paused: %s", msg)
	case api.UpdateStateRollbackStarted:
		if !v.rollback && msg != "" {
			v.out.set("rollback", msg)
		}
		if v.reason == "" {
			v.reason = msg
		}
		v.rollback, v.sawRollback = true, true
	case api.UpdateStateRollbackPaused:
		v.rollback = true
		if v.kind == followUpdate {
			fail = fmt.Errorf("service update failed and its rollback paused: %s", msg)
		} else {
			fail = fmt.Errorf("service rollback paused: %s", msg)
		}
	case api.UpdateStateRollbackCompleted:
		// An old rollback's status says nothing of this command's tasks.
		if v.kind != followConverge || v.sawRollback {
			v.rollback = true
		}
		if v.kind == followUpdate {
			reason := v.reason
			if reason == "" {
				reason = msg
			}
			fail = fmt.Errorf("service update rolled back: %s", reason)
		}
	}

	running, desired, rows := tally(s)
	overall := fmt.Sprintf("%d out of %d tasks", running, desired)
	if v.rollback {
		overall = "rolling back update: " + overall
	}
	if !v.started {
		v.out.set("overall progress", overall)
		v.started = true
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	if !slices.Equal(ids, v.slotIDs) {
		// The replica count or the eligible nodes changed.
		for _, id := range v.slotIDs {
			if !slices.Contains(ids, id) {
				v.out.drop(id)
			}
		}
		for _, id := range ids {
			if !slices.Contains(v.slotIDs, id) {
				v.out.set(id, "")
			}
		}
		v.slotIDs = ids
	}
	for _, r := range rows {
		if text, ok := taskText(r.task); ok {
			v.out.set(r.id, text)
		}
	}
	v.out.set("overall progress", overall)
	if fail != nil {
		v.done = true
		return true, fail
	}

	// As docker's verify phase: the tasks must stay converged for the
	// monitor period, whatever the command did, before following ends; a
	// task that fails in that time (a crash loop) starts it over.
	if running != desired {
		if !v.convergedAt.IsZero() {
			v.out.set("verify", "Detected task failure")
		}
		v.convergedAt = time.Time{}
		return false, nil
	}
	live := runningIDs(s)
	if !v.convergedAt.IsZero() && live != v.convergedIDs {
		// A task was replaced between two reads: it failed.
		v.out.set("verify", "Detected task failure")
		v.convergedAt = time.Time{}
	}
	if v.convergedAt.IsZero() {
		v.convergedAt, v.convergedIDs = s.Now, live
	}
	v.monitor = monitorOf(svc, v.rollback)
	settled := state == "" || state == api.UpdateStateCompleted || state == api.UpdateStateRollbackCompleted
	if settled && s.Now.Sub(v.convergedAt) >= v.monitor {
		v.out.set("verify", "Service converged")
		if state == api.UpdateStateRollbackCompleted && v.rollback && msg != "" {
			v.out.set("rollback", msg)
		}
		v.done = true
		return true, nil
	}
	v.verify(s.Now)
	return false, nil
}

// nextTick says when the countdown shown at now changes or ends; following
// re-reads the service then.
func (v *progressView) nextTick(now time.Time) (time.Duration, bool) {
	if v.done || v.convergedAt.IsZero() {
		return 0, false
	}
	left := v.monitor - now.Sub(v.convergedAt)
	if left <= 0 {
		return 0, false // an update still in progress: its events wake us
	}
	if d := left % time.Second; d > 0 {
		return d, true
	}
	return time.Second, true
}

func (v *progressView) verify(now time.Time) {
	left := v.monitor - now.Sub(v.convergedAt)
	secs := max(int((left+time.Second-1)/time.Second), 1)
	v.out.set("verify", fmt.Sprintf("Waiting %d seconds to verify that tasks are stable...", secs))
}

// runningIDs lists the running tasks of the service's current spec version.
func runningIDs(s progressSnapshot) string {
	var ids []string
	for _, t := range s.Tasks {
		if t.SpecVersion == s.Service.SpecVersion && t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
			ids = append(ids, t.ID)
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// monitorOf is how long the service's update (or rollback) watches a new
// task.
func monitorOf(svc *api.Service, rollback bool) time.Duration {
	cfg := svc.Spec.UpdateConfig
	if rollback {
		cfg = svc.Spec.RollbackConfig
	}
	if cfg != nil && cfg.Monitor > 0 {
		return cfg.Monitor.D()
	}
	return api.DefaultUpdateMonitor
}

// taskText is a task row's text: the task's state and bar, or its error.
// ok is false when the row should keep what it shows.
func taskText(t *api.Task) (text string, ok bool) {
	switch {
	case t == nil:
		return "", false
	case t.Status.Err != "":
		return truncError(t.Status.Err), true
	case t.DesiredState <= api.TaskStateRunning && !t.Status.State.Terminal():
		return fmt.Sprintf("%-*s %s", stateWidth, t.Status.State, stateBar(t.Status.State)), true
	}
	return "", false
}

// newer reports whether task a was made after task b.
func newer(a, b *api.Task) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.Version > b.Version
}

// tally counts the running tasks of the service's current spec version
// and the tasks it wants, and lists the task rows: the newest task of the
// current spec version in each slot (replicated) or on each eligible node
// (global). Above maxProgressBars there are no task rows.
func tally(s progressSnapshot) (running, desired int, rows []progressRow) {
	svc := s.Service
	current := func(t *api.Task) bool { return t.SpecVersion == svc.SpecVersion }
	isRunning := func(t *api.Task) bool {
		return t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning
	}
	if svc.Spec.Mode.IsGlobal() {
		nodes := eligibleNodes(svc, s.Nodes, s.Tasks)
		newest := map[string]*api.Task{}
		up := map[string]bool{}
		for _, t := range s.Tasks {
			if !current(t) || t.NodeID == "" {
				continue
			}
			if isRunning(t) {
				up[t.NodeID] = true
			}
			if n := newest[t.NodeID]; n == nil || newer(t, n) {
				newest[t.NodeID] = t
			}
		}
		for _, id := range nodes {
			if up[id] {
				running++
			}
		}
		if len(nodes) <= maxProgressBars {
			for _, id := range nodes {
				rows = append(rows, progressRow{id: api.ShortID(id), task: newest[id]})
			}
		}
		return running, len(nodes), rows
	}
	want := svc.Spec.Mode.Replicas()
	newest := map[uint64]*api.Task{}
	up := map[uint64]bool{}
	for _, t := range s.Tasks {
		if !current(t) || t.Slot < 1 || t.Slot > want {
			continue
		}
		if isRunning(t) {
			up[t.Slot] = true
		}
		if n := newest[t.Slot]; n == nil || newer(t, n) {
			newest[t.Slot] = t
		}
	}
	if want <= maxProgressBars {
		for slot := uint64(1); slot <= want; slot++ {
			rows = append(rows, progressRow{id: fmt.Sprintf("%d/%d", slot, want), task: newest[slot]})
		}
	}
	return len(up), int(want), rows
}

// eligibleNodes lists, sorted, the nodes a global service runs a task on:
// ready, not drained, with the service's runtime, matching its
// constraints; a paused node only if it still has a task of the service.
func eligibleNodes(svc *api.Service, nodes []*api.Node, tasks []*api.Task) []string {
	constraints := svc.Spec.TaskTemplate.Placement.ParsedConstraints()
	runtime := svc.Spec.TaskTemplate.Runtime()
	live := map[string]bool{}
	for _, t := range tasks {
		if t.Live() {
			live[t.NodeID] = true
		}
	}
	var out []string
next:
	for _, n := range nodes {
		if n.Status.State != api.NodeStateReady || n.Spec.Availability == api.AvailabilityDrain || !n.HasRuntime(runtime) {
			continue
		}
		if n.Spec.Availability == api.AvailabilityPause && !live[n.ID] {
			continue
		}
		for _, c := range constraints {
			if !c.Matches(n) {
				continue next
			}
		}
		out = append(out, n.ID)
	}
	sort.Strings(out)
	return out
}
