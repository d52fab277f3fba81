package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// psRow is one line of `shoal ps`: a task on this node, as docker ps shows
// a container.
type psRow struct {
	ID        string
	Name      string
	RuntimeID string
	Command   string
	Created   string
	Status    string
	Ports     string
	State     string
}

func newPsCmd(a *app) *cobra.Command {
	var quiet, all, noTrunc bool
	var tmpl string
	var filters filterOpt
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List the tasks on this node, like docker ps",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := filters.check("id", "name", "status"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			tasks, err := c.TaskList(cmd.Context(), client.TaskFilter{Node: "self"})
			if err != nil {
				return err
			}
			now := time.Now()
			var rows []psRow
			for _, t := range tasks {
				running := t.Status.State == api.TaskStateRunning
				if !all && !running && !filters.has("status") {
					continue
				}
				if t.Status.RuntimeID == "" && !all {
					continue
				}
				if !filters.match("name", t.FullName(), strings.Contains) ||
					!filters.match("id", t.ID, strings.HasPrefix) ||
					!filters.match("status", t.Status.State.String(), matchFold) {
					continue
				}
				rows = append(rows, psRow{
					ID:        shortOrFull(t.ID, noTrunc),
					Name:      t.FullName(),
					RuntimeID: runtimeID(t.Status.RuntimeID, noTrunc),
					Command:   imageOrCommand(t.Spec.ContainerSpec, !noTrunc),
					Created:   format.Ago(t.CreatedAt, now),
					Status:    psStatus(t, now),
					Ports:     taskPorts(t),
					State:     t.Status.State.String(),
				})
			}
			return format.Table{
				Columns: []format.Column{
					{Header: "TASK ID", Field: "{{.ID}}"},
					{Header: "NAME", Field: "{{.Name}}"},
					{Header: "RUNTIME ID", Field: "{{.RuntimeID}}"},
					{Header: "COMMAND", Field: "{{.Command}}"},
					{Header: "CREATED", Field: "{{.Created}}"},
					{Header: "STATUS", Field: "{{.Status}}"},
					{Header: "PORTS", Field: "{{.Ports}}"},
				},
				Format: tmpl, Quiet: quiet, Stderr: a.stderr,
			}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display task IDs")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all tasks (default shows just running)")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	addFilterFlag(cmd.Flags(), &filters, "id, name, status=running|failed|…")
	return cmd
}

// psStatus reads like docker ps: "Up 3 seconds", "Exited (1) 2 minutes ago".
// A task that ended with no exit code known (rejected before it ran, shut
// down before it started, lost while no agent watched it, or a process
// adopted after an agent restart) says how it ended instead: "Rejected 2
// minutes ago", never an exit code it did not have.
func psStatus(t *api.Task, now time.Time) string {
	switch {
	case t.Status.State == api.TaskStateRunning:
		s := "Up " + format.HumanDuration(now.Sub(t.Status.Timestamp))
		if t.Status.Health != "" {
			s += " (" + t.Status.Health + ")"
		}
		return s
	case t.Status.State.Terminal():
		ago := format.Ago(t.Status.Timestamp, now)
		if c := t.Status.ExitCode; c != nil && *c >= 0 {
			return fmt.Sprintf("Exited (%d) %s", *c, ago)
		}
		return title(t.Status.State.String()) + " " + ago
	}
	return title(t.Status.State.String())
}

// runtimeID shortens a container ID to 12 characters, as docker ps does;
// a PID stays as it is.
func runtimeID(id string, noTrunc bool) string {
	if !noTrunc && len(id) == 64 {
		return id[:12]
	}
	return id
}
