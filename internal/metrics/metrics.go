// Package metrics exports a manager's view of the cluster to Prometheus:
// nodes, services and tasks counted from the store when scraped (so a
// figure is never stale and nothing is kept twice), Raft's own figures,
// and how long the controllers' passes take.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// RaftStats is what the collector reads of Raft.
type RaftStats interface {
	Stats() map[string]string
	IsLeader() bool
}

// Manager holds a manager's metrics.
type Manager struct {
	reg       *prometheus.Registry
	passes    *prometheus.HistogramVec
	raft      *prometheus.HistogramVec
	beats     prometheus.Histogram
	taskStart *prometheus.HistogramVec
}

// NewManager returns the metrics of a manager; AddCluster adds what it
// reads of its store and Raft at each scrape.
func NewManager() *Manager {
	reg := NewRegistry()
	passes := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Name: "controller_pass_seconds",
		Help:    "How long one pass of a controller (orchestrator, scheduler, updater) took.",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
	}, []string{"controller"})
	raft := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Name: "raft_seconds",
		Help:    "Raft's latency: op=commit, a write on the leader until committed and applied; op=apply, one entry applied to the store.",
		Buckets: []float64{.00005, .0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	beats := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "shoal", Name: "heartbeat_gap_seconds",
		Help:    "The time between two heartbeats of a node, as the leader's dispatcher saw them.",
		Buckets: []float64{.25, .5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10},
	})
	taskStart := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Name: "task_start_seconds",
		Help:    "How long tasks took from assigned to running, by the leader's clock, by runtime (docker, process).",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"runtime"})
	reg.MustRegister(passes, raft, beats, taskStart)
	return &Manager{reg: reg, passes: passes, raft: raft, beats: beats, taskStart: taskStart}
}

// AddCluster counts the objects of store and reads raft's figures at each
// scrape; node is this manager's node ID.
func (m *Manager) AddCluster(store *state.Store, raft RaftStats, node string) {
	m.reg.MustRegister(&clusterCollector{store: store, raft: raft, node: node})
}

// ObservePass records one controller pass (manager.Config.ObservePass).
func (m *Manager) ObservePass(controller string, d time.Duration) {
	m.passes.WithLabelValues(controller).Observe(d.Seconds())
}

// ObserveRaft records one Raft commit or apply (manager.Config.ObserveRaft).
func (m *Manager) ObserveRaft(op string, d time.Duration) {
	m.raft.WithLabelValues(op).Observe(d.Seconds())
}

// ObserveHeartbeat records the gap between two heartbeats of a node.
func (m *Manager) ObserveHeartbeat(gap time.Duration) { m.beats.Observe(gap.Seconds()) }

// ObserveTaskStart records how long a task took from assigned to running.
func (m *Manager) ObserveTaskStart(runtime string, d time.Duration) {
	m.taskStart.WithLabelValues(runtime).Observe(d.Seconds())
}

// Registry is where other parts of the node (the ingress) register theirs.
func (m *Manager) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format.
func (m *Manager) Handler() http.Handler { return Handler(m.reg) }

// NewRegistry returns a registry with the process's and Go runtime's
// metrics, for a manager or a worker node.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics in Prometheus' text format.
func Handler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descNodes = prometheus.NewDesc("shoal_nodes", "Nodes by state, availability and role.",
		[]string{"state", "availability", "role"}, nil)
	descServices = prometheus.NewDesc("shoal_services", "Services by mode.", []string{"mode"}, nil)
	descDesired  = prometheus.NewDesc("shoal_service_desired_tasks",
		"Tasks a service wants running: its replicas, or its global tasks meant to run.", []string{"service", "stack"}, nil)
	descRunning = prometheus.NewDesc("shoal_service_running_tasks",
		"Tasks of a service running (and meant to).", []string{"service", "stack"}, nil)
	descRestarts = prometheus.NewDesc("shoal_service_task_restarts",
		"Restarts of the tasks a service has now, summed.", []string{"service", "stack"}, nil)
	descTasks     = prometheus.NewDesc("shoal_tasks", "Tasks by state.", []string{"state"}, nil)
	descLeader    = prometheus.NewDesc("shoal_raft_leader", "1 when this manager leads the Raft group.", []string{"node"}, nil)
	descRaftIndex = prometheus.NewDesc("shoal_raft_index", "Raft log positions: last, commit and applied index.",
		[]string{"kind"}, nil)
	descRaftTerm  = prometheus.NewDesc("shoal_raft_term", "The current Raft term.", nil, nil)
	descRaftPeers = prometheus.NewDesc("shoal_raft_peers", "Voters of the Raft configuration.", nil, nil)
	descApplied   = prometheus.NewDesc("shoal_store_index", "Raft index of the last write the store applied.", nil, nil)
	descSnapshot  = prometheus.NewDesc("shoal_raft_snapshot_bytes", "Size of this manager's newest Raft snapshot.", nil, nil)
)

// snapshotSizer is the Raft that tells its newest snapshot's size.
type snapshotSizer interface{ SnapshotSize() int64 }

// clusterCollector counts the store's objects at each scrape.
type clusterCollector struct {
	store *state.Store
	raft  RaftStats
	node  string
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodes, descServices, descDesired, descRunning, descRestarts, descTasks,
		descLeader, descRaftIndex, descRaftTerm, descRaftPeers, descApplied, descSnapshot} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	tx := c.store.Read()
	type nodeKey struct{ state, avail, role string }
	nodes := map[nodeKey]int{}
	for _, n := range tx.Nodes() {
		nodes[nodeKey{n.Status.State, n.Spec.Availability, n.Spec.Role}]++
	}
	for k, n := range nodes {
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(n), k.state, k.avail, k.role)
	}

	modes := map[string]int{}
	type perService struct{ desired, running, restarts int }
	services := map[string]*perService{}
	for _, s := range tx.Services() {
		modes[modeName(s.Spec.Mode)]++
		services[s.ID] = &perService{desired: int(s.Spec.Mode.Replicas())}
	}
	states := map[api.TaskState]int{}
	for _, t := range tx.Tasks() {
		states[t.Status.State]++
		ps := services[t.ServiceID]
		if ps == nil {
			continue
		}
		live := t.DesiredState == api.TaskStateRunning
		if live && tx.Service(t.ServiceID).Spec.Mode.Global != nil {
			ps.desired++
		}
		if live && t.Status.State == api.TaskStateRunning {
			ps.running++
		}
		if live {
			ps.restarts += int(t.Restarts)
		}
	}
	for m, n := range modes {
		ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(n), m)
	}
	for id, ps := range services {
		s := tx.Service(id)
		name, stack := s.Spec.Name, s.Spec.Labels[api.StackNamespaceLabel]
		ch <- prometheus.MustNewConstMetric(descDesired, prometheus.GaugeValue, float64(ps.desired), name, stack)
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(ps.running), name, stack)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.GaugeValue, float64(ps.restarts), name, stack)
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), st.String())
	}
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(tx.Index()))

	if c.raft == nil {
		return
	}
	leader := 0.0
	if c.raft.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader, c.node)
	stats := c.raft.Stats()
	for _, kind := range []string{"last_log_index", "commit_index", "applied_index"} {
		if v, err := strconv.ParseFloat(stats[kind], 64); err == nil {
			ch <- prometheus.MustNewConstMetric(descRaftIndex, prometheus.GaugeValue, v, kind)
		}
	}
	if v, err := strconv.ParseFloat(stats["term"], 64); err == nil {
		ch <- prometheus.MustNewConstMetric(descRaftTerm, prometheus.GaugeValue, v)
	}
	if v, err := strconv.ParseFloat(stats["num_peers"], 64); err == nil {
		// num_peers counts the other voters.
		ch <- prometheus.MustNewConstMetric(descRaftPeers, prometheus.GaugeValue, v+1)
	}
	if s, ok := c.raft.(snapshotSizer); ok {
		ch <- prometheus.MustNewConstMetric(descSnapshot, prometheus.GaugeValue, float64(s.SnapshotSize()))
	}
}

// modeName is a service mode as docker's filter names it.
func modeName(m api.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.ReplicatedJob != nil:
		return "replicated-job"
	case m.GlobalJob != nil:
		return "global-job"
	}
	return "replicated"
}
