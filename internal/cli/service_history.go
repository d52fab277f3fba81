package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newServiceRollbackCmd(a *app) *cobra.Command {
	var detach, quiet bool
	var to uint64
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Revert changes to a service's configuration",
		Long: `Roll a service back to its previous spec, or with --to to the spec of a
revision in its history (see service history). Tasks are replaced as the
service's rollback config says (--rollback-*).`,
		Example: `  shoal service rollback web
  shoal service rollback --to 3 web`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("to") && to == 0 {
				return usagef(cmd, "invalid --to 0: revisions start at 1 (see service history)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.rollbackService(cmd, c, args[0], to, detach, quiet)
		},
	}
	cmd.Flags().Uint64Var(&to, "to", 0, "roll back to this revision of the service's history instead of the previous spec")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return at once instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress progress output")
	return cmd
}

// rollbackService rolls service ref back to its previous spec (to == 0)
// or to revision to, prints ref and, unless detach, follows the rollback.
func (a *app) rollbackService(cmd *cobra.Command, c *client.Client, ref string, to uint64, detach, quiet bool) error {
	ctx := cmd.Context()
	svc, err := c.ServiceInspect(ctx, ref)
	if err != nil {
		return noSuch("service", ref, err)
	}
	if to == 0 && svc.PreviousSpec == nil {
		return fmt.Errorf("service %s has no previous spec to roll back to", svc.Spec.Name)
	}
	updated, err := c.ServiceRollback(ctx, svc.ID, to)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, ref)
	if detach {
		return nil
	}
	kind := followRollback
	if updated.SpecVersion == svc.SpecVersion {
		// The tasks stay as they are (a replica count, say): only wait.
		kind = followConverge
	}
	return a.followServices(ctx, c, []followTarget{{Service: updated, Kind: kind}}, quiet)
}

// historyRow is one line of `service history`.
type historyRow struct {
	Revision    uint64
	Current     bool
	SpecVersion uint64
	CreatedAt   time.Time
	Created     string
	Change      string
}

var historyColumns = []format.Column{
	{Header: "REVISION", Field: "{{.Revision}}{{if .Current}} *{{end}}"},
	{Header: "SPEC VERSION", Field: "{{.SpecVersion}}"},
	{Header: "CREATED", Field: "{{.Created}}"},
	{Header: "CHANGE", Field: "{{.Change}}"},
}

// maxChangeLength is where CHANGE is cut without --no-trunc.
const maxChangeLength = 45

// historyRows lists svc's history newest first.
func historyRows(svc *api.Service, noTrunc bool, now time.Time) []historyRow {
	rows := make([]historyRow, 0, len(svc.History))
	for i := len(svc.History) - 1; i >= 0; i-- {
		h := svc.History[i]
		change := h.Change
		if !noTrunc {
			change = ellipsis(change, maxChangeLength)
		}
		rows = append(rows, historyRow{
			Revision:    h.Revision,
			Current:     h.Revision == svc.Revision,
			SpecVersion: h.SpecVersion,
			CreatedAt:   h.CreatedAt,
			Created:     format.Ago(h.CreatedAt, now),
			Change:      change,
		})
	}
	return rows
}

func newServiceHistoryCmd(a *app) *cobra.Command {
	var quiet, noTrunc bool
	var tmpl string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] SERVICE",
		Short: "Show the spec revisions of a service",
		Long: `Show the last revisions of a service's spec, newest first; * marks the
current one. SPEC VERSION changes when the tasks must be replaced (a replica
count or update config change keeps it). Roll back to a revision with
service rollback --to REVISION.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			svc, err := c.ServiceInspect(cmd.Context(), args[0])
			if err != nil {
				return noSuch("service", args[0], err)
			}
			return format.Table{Columns: historyColumns, IDField: "Revision", Format: tmpl, Quiet: quiet, Stderr: a.stderr}.
				Write(a.stdout, historyRows(svc, noTrunc, time.Now()))
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display revision numbers")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	return cmd
}
