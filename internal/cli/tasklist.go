package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// taskFilterKeys are the filters of service ps and stack ps, as docker's;
// node ps has label instead of node.
var (
	taskFilterKeys     = []string{"desired-state", "id", "name", "node"}
	nodeTaskFilterKeys = []string{"desired-state", "id", "label", "name"}
)

// taskListFlags are the flags of service ps, node ps and stack ps.
type taskListFlags struct {
	quiet     bool
	noTrunc   bool
	noResolve bool
	tmpl      string
	filters   filterOpt
	keys      []string
}

func (f *taskListFlags) add(cmd *cobra.Command, keys ...string) {
	f.keys = keys
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "only display task IDs")
	cmd.Flags().BoolVar(&f.noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().BoolVar(&f.noResolve, "no-resolve", false, "do not map IDs to names")
	cmd.Flags().StringVar(&f.tmpl, "format", "", "format output: table, json, or a Go template")
	addFilterFlag(cmd.Flags(), &f.filters, strings.Join(keys, ", "))
}

// print filters and prints tasks.
func (f *taskListFlags) print(a *app, cmd *cobra.Command, c *client.Client, tasks []*api.Task) error {
	if err := f.filters.check(f.keys...); err != nil {
		return err
	}
	for _, v := range f.filters.set["desired-state"] {
		switch strings.ToLower(v) {
		case "running", "shutdown", "accepted":
		default:
			return fmt.Errorf("invalid filter 'desired-state=%s': want running, shutdown or accepted", v)
		}
	}
	nodes, err := nodeMap(cmd.Context(), c)
	if err != nil {
		return err
	}
	onNodes, err := resolveNodes(cmd.Context(), c, f.filters.set["node"])
	if err != nil {
		return err
	}
	out := tasks[:0:0]
	for _, t := range tasks {
		var nodeLabels map[string]string
		if n := nodes[t.NodeID]; n != nil {
			nodeLabels = n.Spec.Labels
		}
		if f.filters.match("desired-state", t.DesiredState.String(), matchFold) &&
			f.filters.match("id", t.ID, strings.HasPrefix) &&
			f.filters.match("name", t.Name(), strings.HasPrefix) &&
			(onNodes == nil || onNodes[t.NodeID]) &&
			f.filters.matchLabels("label", nodeLabels) {
			out = append(out, t)
		}
	}
	rows := taskRows(out, nodes, f.noTrunc, time.Now())
	if f.noResolve {
		// docker's --no-resolve: IDs where names would be.
		for i := range rows {
			t := rows[i].Task
			rows[i].Node = t.NodeID
			rows[i].Name = strings.Replace(rows[i].Name, t.ServiceName+".", t.ServiceID+".", 1)
		}
	}
	return format.Table{Columns: taskColumns, Format: f.tmpl, Quiet: f.quiet, Stderr: a.stderr}.Write(a.stdout, rows)
}

// resolveNodes turns node filter values (an ID, an ID prefix, a hostname
// or "self") into node IDs; nil when there are none.
func resolveNodes(ctx context.Context, c *client.Client, refs []string) (map[string]bool, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids := map[string]bool{}
	for _, ref := range refs {
		if ref == "self" {
			info, err := c.Info(ctx)
			if err != nil {
				return nil, err
			}
			ids[info.NodeID] = true
			continue
		}
		n, err := c.NodeInspect(ctx, ref)
		if err != nil {
			return nil, noSuch("node", ref, err)
		}
		ids[n.ID] = true
	}
	return ids, nil
}
