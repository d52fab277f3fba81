package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newNodeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Manage nodes", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newNodeLsCmd(a), newNodePsCmd(a), newNodeInspectCmd(a), newNodeUpdateCmd(a), newNodeRmCmd(a), newNodeDemoteCmd(a), newNodePromoteCmd(a))
	return cmd
}

// nodeRow is one line of `node ls`.
type nodeRow struct {
	ID            string
	Self          bool
	Hostname      string
	Status        string
	Availability  string
	ManagerStatus string
	EngineVersion string
	Runtimes      string
}

// nodeRows makes the lines of `node ls`; self is the node the CLI talks
// to, and leader the leading manager (Raft's view from that manager).
func nodeRows(nodes []*api.Node, self, leader string) []nodeRow {
	rows := make([]nodeRow, 0, len(nodes))
	for _, n := range nodes {
		rows = append(rows, nodeRow{
			ID:            n.ID,
			Self:          n.ID == self,
			Hostname:      n.Description.Hostname,
			Status:        title(n.Status.State),
			Availability:  title(n.Spec.Availability),
			ManagerStatus: managerStatus(n, self, leader),
			EngineVersion: n.Description.EngineVersion,
			Runtimes:      strings.Join(n.Description.Runtimes, ","),
		})
	}
	return rows
}

// managerStatus is docker's MANAGER STATUS: empty for a worker.
func managerStatus(n *api.Node, self, leader string) string {
	switch {
	case n.Spec.Role != api.RoleManager:
		return ""
	case n.ID == leader:
		return "Leader"
	case n.Status.State == api.NodeStateDown:
		return "Unreachable"
	}
	return "Reachable"
}

// nodeTable is `node ls`'s table: docker's columns. {{.Runtimes}} is
// there for --format.
func nodeTable(tmpl string, quiet bool, stderr io.Writer) format.Table {
	return format.Table{
		Columns: []format.Column{
			{Header: "ID", Field: `{{.ID}}{{if .Self}} *{{end}}`},
			{Header: "HOSTNAME", Field: "{{.Hostname}}"},
			{Header: "STATUS", Field: "{{.Status}}"},
			{Header: "AVAILABILITY", Field: "{{.Availability}}"},
			{Header: "MANAGER STATUS", Field: "{{.ManagerStatus}}"},
			{Header: "ENGINE VERSION", Field: "{{.EngineVersion}}"},
		},
		Format: tmpl, Quiet: quiet, Stderr: stderr,
	}
}

func newNodeLsCmd(a *app) *cobra.Command {
	var quiet bool
	var tmpl string
	var filters filterOpt
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List nodes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			info, err := c.Info(cmd.Context())
			if err != nil {
				return err
			}
			nodes, err := c.NodeList(cmd.Context())
			if err != nil {
				return err
			}
			if nodes, err = filterNodes(&filters, nodes); err != nil {
				return err
			}
			return nodeTable(tmpl, quiet, a.stderr).Write(a.stdout, nodeRows(nodes, info.NodeID, info.Leader))
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	addFilterFlag(cmd.Flags(), &filters, "id, label (engine labels), node.label, membership=accepted|pending, name, role=manager|worker")
	return cmd
}

func newNodePsCmd(a *app) *cobra.Command {
	var f taskListFlags
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [NODE...]",
		Short: "List the tasks on one or more nodes (default: self)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"self"}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var all []*api.Task
			for _, ref := range args {
				tasks, err := c.TaskList(cmd.Context(), client.TaskFilter{Node: ref})
				if err != nil {
					return noSuch("node", ref, err)
				}
				all = append(all, tasks...)
			}
			return f.print(a, cmd, c, all)
		},
	}
	f.add(cmd, nodeTaskFilterKeys...)
	return cmd
}

func newNodeInspectCmd(a *app) *cobra.Command {
	var tmpl string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NODE [NODE...]",
		Short: "Show details of one or more nodes (\"self\" is this node)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty && tmpl != "" {
				return usagef(cmd, "--format is incompatible with human friendly format (--pretty)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			found, errs := fetchEach("node", args, func(ref string) (*api.Node, error) { return c.NodeInspect(cmd.Context(), ref) })
			info, err := c.Info(cmd.Context())
			if err != nil {
				return err
			}
			if pretty {
				if err := writeNodesPretty(a.stdout, found, info.NodeID, info.Leader, time.Now()); err != nil {
					return err
				}
				return errors.Join(errs...)
			}
			return printInspect(a, nodeViews(found, info.Leader), errs, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "print the information in a human friendly format")
	return cmd
}

// filterNodes keeps the nodes f's filters match: docker's node ls
// filters. Every node of a shoal cluster has joined, so membership is
// "accepted" (docker's "pending" is a node waiting for approval).
func filterNodes(f *filterOpt, nodes []*api.Node) ([]*api.Node, error) {
	if err := f.check("id", "label", "membership", "name", "node.label", "role"); err != nil {
		return nil, err
	}
	for _, check := range []struct {
		key  string
		want []string
	}{{"role", []string{api.RoleManager, api.RoleWorker}}, {"membership", []string{"accepted", "pending"}}} {
		for _, v := range f.set[check.key] {
			if !slices.Contains(check.want, strings.ToLower(v)) {
				return nil, fmt.Errorf("invalid filter '%s=%s'", check.key, v)
			}
		}
	}
	out := nodes[:0:0]
	for _, n := range nodes {
		if f.match("id", n.ID, strings.HasPrefix) && f.match("name", n.Description.Hostname, strings.HasPrefix) &&
			f.match("role", n.Spec.Role, matchFold) && f.match("membership", "accepted", matchFold) &&
			f.matchLabels("label", n.Description.EngineLabels) && f.matchLabels("node.label", n.Spec.Labels) {
			out = append(out, n)
		}
	}
	return out, nil
}
