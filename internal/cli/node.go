package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newNodeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Manage nodes", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newNodeLsCmd(a), newNodePsCmd(a), newNodeInspectCmd(a))
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
	Runtimes      string
}

func newNodeLsCmd(a *app) *cobra.Command {
	var quiet bool
	var tmpl string
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
			rows := make([]nodeRow, 0, len(nodes))
			for _, n := range nodes {
				row := nodeRow{
					ID:           n.ID,
					Self:         n.ID == info.NodeID,
					Hostname:     n.Description.Hostname,
					Status:       title(n.Status.State),
					Availability: title(n.Spec.Availability),
					Runtimes:     strings.Join(n.Description.Runtimes, ","),
				}
				if n.Spec.Role == api.RoleManager {
					row.ManagerStatus = "Reachable"
					if n.ID == info.NodeID && info.IsLeader {
						row.ManagerStatus = "Leader"
					}
				}
				rows = append(rows, row)
			}
			return format.Table{
				Columns: []format.Column{
					{Header: "ID", Field: `{{.ID}}{{if .Self}} *{{end}}`},
					{Header: "HOSTNAME", Field: "{{.Hostname}}"},
					{Header: "STATUS", Field: "{{.Status}}"},
					{Header: "AVAILABILITY", Field: "{{.Availability}}"},
					{Header: "MANAGER STATUS", Field: "{{.ManagerStatus}}"},
					{Header: "RUNTIMES", Field: "{{.Runtimes}}"},
				},
				Format: tmpl, Quiet: quiet, Stderr: a.stderr,
			}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
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
	f.add(cmd)
	return cmd
}

func newNodeInspectCmd(a *app) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NODE [NODE...]",
		Short: "Show details of one or more nodes (\"self\" is this node)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			found, errs := fetchEach("node", args, func(ref string) (*api.Node, error) { return c.NodeInspect(cmd.Context(), ref) })
			return printInspect(a, found, errs, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	return cmd
}
