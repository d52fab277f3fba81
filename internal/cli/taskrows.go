package cli

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// taskRow is one line of `service ps` and `node ps`.
type taskRow struct {
	ID           string
	Name         string
	Image        string
	Node         string
	DesiredState string
	CurrentState string
	Error        string
	Ports        string
	// Networks are the task's addresses, "appnet=10.0.1.5/24"; not a
	// column (docker's service ps has none), but --format shows them.
	Networks string
	Task     *api.Task `json:"-"`
}

var taskColumns = []format.Column{
	{Header: "ID", Field: "{{.ID}}"},
	{Header: "NAME", Field: "{{.Name}}"},
	{Header: "IMAGE", Field: "{{.Image}}"},
	{Header: "NODE", Field: "{{.Node}}"},
	{Header: "DESIRED STATE", Field: "{{.DesiredState}}"},
	{Header: "CURRENT STATE", Field: "{{.CurrentState}}"},
	{Header: "ERROR", Field: "{{.Error}}"},
	{Header: "PORTS", Field: "{{.Ports}}"},
}

const maxErrLength = 30

// title upper-cases a state's first letter, as docker prints states.
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// imageOrCommand is what a task runs: its image, or its command line.
func imageOrCommand(c api.ContainerSpec, trunc bool) string {
	if c.Image != "" {
		return c.Image
	}
	s := strings.Join(c.Argv(), " ")
	if trunc {
		s = ellipsis(s, 40)
	}
	return s
}

// ellipsis cuts s to at most n characters, the last being "…", without
// splitting a multi-byte character.
func ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// currentState reads like docker's "Running 3 seconds ago".
func currentState(t *api.Task, now time.Time) string {
	s := title(t.Status.State.String()) + " " + strings.ToLower(format.Ago(t.Status.Timestamp, now))
	switch t.Status.Health {
	case api.HealthHealthy, api.HealthUnhealthy:
		s += " (" + t.Status.Health + ")"
	case api.HealthStarting:
		s += " (health: starting)"
	}
	return s
}

func taskPorts(t *api.Task) string {
	var parts []string
	for _, e := range t.Endpoints {
		proto := e.Protocol
		if proto == "" {
			proto = "tcp"
		}
		parts = append(parts, e.Addr+"->"+strconv.FormatUint(uint64(e.TargetPort), 10)+"/"+proto)
	}
	return strings.Join(parts, ", ")
}

// taskNetworks lists a task's addresses by network.
func taskNetworks(t *api.Task) string {
	var parts []string
	for _, a := range t.NetworksAttachments {
		for _, addr := range a.Addresses {
			parts = append(parts, a.Network.Name+"="+addr)
		}
	}
	return strings.Join(parts, ", ")
}

// taskRows orders tasks as docker's service ps does (by service and slot,
// newest first within a slot, the slot's live task heading it) and marks a
// slot's older tasks with \_. The live task heads its slot even when an
// ended one is newer: a rollback keeps the old task, not a new one as
// Swarm's does, so a failed task of the update can be newer than it.
func taskRows(tasks []*api.Task, nodes map[string]*api.Node, noTrunc bool, now time.Time) []taskRow {
	sort.SliceStable(tasks, func(i, j int) bool {
		a, b := tasks[i], tasks[j]
		if a.ServiceName != b.ServiceName {
			return a.ServiceName < b.ServiceName
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.Slot == 0 && a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		if a.Live() != b.Live() {
			return a.Live()
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	rows := make([]taskRow, 0, len(tasks))
	prev := ""
	for _, t := range tasks {
		name := t.Name()
		if n := nodes[t.NodeID]; t.Slot == 0 && n != nil {
			name = t.ServiceName + "." + shortOrFull(t.NodeID, noTrunc)
		}
		display := name
		if name == prev {
			display = ` \_ ` + name
		}
		prev = name
		node := ""
		if n := nodes[t.NodeID]; n != nil {
			node = n.Description.Hostname
		}
		errText := t.Status.Err
		if !noTrunc {
			errText = ellipsis(errText, maxErrLength)
		}
		if errText != "" {
			errText = `"` + errText + `"`
		}
		rows = append(rows, taskRow{
			ID:           shortOrFull(t.ID, noTrunc),
			Name:         display,
			Image:        imageOrCommand(t.Spec.ContainerSpec, !noTrunc),
			Node:         node,
			DesiredState: title(t.DesiredState.String()),
			CurrentState: currentState(t, now),
			Error:        errText,
			Ports:        taskPorts(t),
			Networks:     taskNetworks(t),
			Task:         t,
		})
	}
	return rows
}

func shortOrFull(id string, noTrunc bool) string {
	if noTrunc {
		return id
	}
	return api.ShortID(id)
}

// nodeMap lists the nodes by ID.
func nodeMap(ctx context.Context, c *client.Client) (map[string]*api.Node, error) {
	nodes, err := c.NodeList(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*api.Node, len(nodes))
	for _, n := range nodes {
		m[n.ID] = n
	}
	return m, nil
}

// filterDesired keeps tasks whose desired state is one of the values.
func filterDesired(tasks []*api.Task, values []string) []*api.Task {
	if len(values) == 0 {
		return tasks
	}
	out := tasks[:0:0]
	for _, t := range tasks {
		for _, v := range values {
			if strings.EqualFold(t.DesiredState.String(), v) {
				out = append(out, t)
				break
			}
		}
	}
	return out
}
