package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newIngressCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "ingress", Short: "Show what the HTTP ingress serves", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newIngressRoutesCmd(a))
	return cmd
}

// routeRow is one line of `ingress routes`.
type routeRow struct {
	Service     string
	Router      string
	EntryPoints string
	Rule        string
	Priority    int
	Middlewares string
	// LoadBalancer is the Traefik service the router sends to.
	LoadBalancer string
	// Backends counts the tasks taking traffic, healthy of all ("2/3").
	Backends string
	// Status is "serving", "no backend" or "refused: why".
	Status string
}

func newIngressRoutesCmd(a *app) *cobra.Command {
	var tmpl string
	var noTrunc bool
	cmd := &cobra.Command{
		Use:     "routes [OPTIONS]",
		Aliases: []string{"ls"},
		Short:   "List the routers the ingress of the API's node serves, in matching order",
		Long: "List the routers the ingress serves: each service's Traefik routers in the order requests are matched " +
			"(priority, then rule length), with their entry points, middlewares and the tasks taking their traffic. " +
			"It is the ingress of the node the API runs on; every node's serves the same routers.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			routes, err := c.IngressRoutes(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([]routeRow, 0, len(routes))
			for _, r := range routes {
				rows = append(rows, routeRowOf(r, noTrunc))
			}
			return format.Table{
				Columns: []format.Column{
					{Header: "SERVICE", Field: "{{.Service}}"},
					{Header: "ROUTER", Field: "{{.Router}}"},
					{Header: "ENTRYPOINTS", Field: "{{.EntryPoints}}"},
					{Header: "RULE", Field: "{{.Rule}}"},
					{Header: "PRIORITY", Field: "{{.Priority}}"},
					{Header: "MIDDLEWARES", Field: "{{.Middlewares}}"},
					{Header: "BACKENDS", Field: "{{.Backends}}"},
					{Header: "STATUS", Field: "{{.Status}}"},
				},
				IDField: "Router", Format: tmpl, Stderr: a.stderr,
			}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	return cmd
}

// maxRuleWidth is how much of a rule the table shows without --no-trunc.
const maxRuleWidth = 60

func routeRowOf(r api.IngressRoute, noTrunc bool) routeRow {
	row := routeRow{Service: r.Service, Router: r.Router, EntryPoints: strings.Join(r.EntryPoints, ","), Rule: r.Rule,
		Priority: r.Priority, Middlewares: strings.Join(r.Middlewares, ","), LoadBalancer: r.LoadBalancer}
	if row.EntryPoints == "" {
		row.EntryPoints = "none"
	}
	healthy := 0
	for _, b := range r.Backends {
		if b.Healthy {
			healthy++
		}
	}
	row.Backends = fmt.Sprintf("%d/%d", healthy, len(r.Backends))
	if r.LoadBalancer == "api@internal" {
		row.Backends = "-" // the dashboard of the API's node, or none (refused)
	}
	switch {
	case r.Refused != "":
		row.Status = "refused: " + r.Refused
	case r.LoadBalancer == "api@internal":
		row.Status = "serving: api@internal, this node's dashboard"
	case healthy == 0:
		row.Status = "no backend"
	default:
		row.Status = "serving"
	}
	if !noTrunc {
		row.Rule = ellipsis(row.Rule, maxRuleWidth)
		row.Status = ellipsis(row.Status, maxRuleWidth)
	}
	return row
}
