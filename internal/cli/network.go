package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newNetworkCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newNetworkCreateCmd(a), newNetworkLsCmd(a), newNetworkInspectCmd(a), newNetworkRmCmd(a))
	return cmd
}

func newNetworkCreateCmd(a *app) *cobra.Command {
	var labels []string
	var spec api.NetworkSpec
	var subnet, gateway string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lbl, err := parseLabels("label", labels)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			if spec.Driver == "" {
				return usagef(cmd, "invalid --driver: empty driver name")
			}
			spec.Name, spec.Labels = args[0], lbl
			if gateway != "" && subnet == "" {
				return usagef(cmd, "--gateway %s needs --subnet", gateway)
			}
			if subnet != "" {
				spec.IPAM = &api.IPAM{Config: []api.IPAMConfig{{Subnet: subnet, Gateway: gateway}}}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			n, err := c.NetworkCreate(cmd.Context(), spec)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, n.ID)
			return nil
		},
	}
	cmd.Flags().StringVarP(&spec.Driver, "driver", "d", api.DefaultNetworkDriver, "driver to manage the network")
	cmd.Flags().BoolVar(&spec.Attachable, "attachable", false, "enable manual container attachment")
	cmd.Flags().BoolVar(&spec.Internal, "internal", false, "restrict external access to the network")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "network label (KEY=VALUE)")
	cmd.Flags().StringVar(&subnet, "subnet", "", "subnet in CIDR form, e.g. 10.0.9.0/24 (default: the next free one of the cluster's address pool)")
	cmd.Flags().StringVar(&gateway, "gateway", "", "gateway of the subnet (default: its first address)")
	return cmd
}

// networkRow is one line of `network ls`.
type networkRow struct {
	ID     string
	Name   string
	Driver string
	Scope  string
	Labels string
}

func newNetworkLsCmd(a *app) *cobra.Command {
	var quiet, noTrunc bool
	var tmpl string
	var filters filterOpt
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			nets, err := c.NetworkList(cmd.Context())
			if err != nil {
				return err
			}
			if nets, err = filterNetworks(cmd.Context(), c, &filters, nets); err != nil {
				return err
			}
			rows := make([]networkRow, 0, len(nets))
			for _, n := range nets {
				id := n.ID
				if !noTrunc {
					id = api.ShortID(id)
				}
				rows = append(rows, networkRow{ID: id, Name: n.Spec.Name, Driver: n.Spec.Driver, Scope: api.NetworkScopeSwarm, Labels: labelList(n.Spec.Labels)})
			}
			return format.Table{
				Columns: []format.Column{
					{Header: "NETWORK ID", Field: "{{.ID}}"},
					{Header: "NAME", Field: "{{.Name}}"},
					{Header: "DRIVER", Field: "{{.Driver}}"},
					{Header: "SCOPE", Field: "{{.Scope}}"},
				},
				Format: tmpl, Quiet: quiet, Stderr: a.stderr,
			}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	addFilterFlag(cmd.Flags(), &filters, "dangling=true|false, driver, id, label, name, scope=swarm, type=custom|builtin")
	return cmd
}

// filterNetworks keeps the networks f's filters match: docker's network
// ls filters. name matches part of the name and id a prefix, as docker's;
// every shoal network is a user-defined (custom) swarm-scoped one; a
// dangling network is one no service attaches to.
func filterNetworks(ctx context.Context, c *client.Client, f *filterOpt, nets []*api.Network) ([]*api.Network, error) {
	if err := f.check("dangling", "driver", "id", "label", "name", "scope", "type"); err != nil {
		return nil, err
	}
	for _, v := range f.set["type"] {
		if v != "custom" && v != "builtin" {
			return nil, fmt.Errorf("invalid filter 'type=%s'", v)
		}
	}
	used := map[string]bool{}
	if f.has("dangling") {
		for _, v := range f.set["dangling"] {
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("invalid filter 'dangling=%s'", v)
			}
		}
		svcs, err := c.ServiceList(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			for _, n := range s.Spec.TaskTemplate.Networks {
				used[n.Target] = true
			}
		}
	}
	out := nets[:0:0]
	for _, n := range nets {
		dangling := strconv.FormatBool(!used[n.ID] && !used[n.Spec.Name])
		if f.match("name", n.Spec.Name, strings.Contains) && f.match("id", n.ID, strings.HasPrefix) &&
			f.match("driver", n.Spec.Driver, matchExact) && f.match("scope", api.NetworkScopeSwarm, matchExact) &&
			f.match("type", "custom", matchExact) && f.matchLabels("label", n.Spec.Labels) &&
			f.match("dangling", dangling, func(s, v string) bool { b, _ := strconv.ParseBool(v); return s == strconv.FormatBool(b) }) {
			out = append(out, n)
		}
	}
	return out, nil
}

func newNetworkInspectCmd(a *app) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Show details of one or more networks",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			found, errs := fetchEach("network", args, func(ref string) (*api.Network, error) { return c.NetworkInspect(cmd.Context(), ref) })
			return printInspect(a, networkViews(found), errs, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	return cmd
}

func newNetworkRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.removeEach("network", args, func(ref string) error { return c.NetworkRemove(cmd.Context(), ref) })
		},
	}
}
