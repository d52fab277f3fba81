package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newServiceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Manage services", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(
		newServiceCreateCmd(a),
		newServiceLsCmd(a),
		newServicePsCmd(a),
		newServiceInspectCmd(a),
		newServiceScaleCmd(a),
		newServiceUpdateCmd(a),
		newServiceRollbackCmd(a),
		newServiceHistoryCmd(a),
		newServiceRmCmd(a),
		newServiceLogsCmd(a),
	)
	return cmd
}

// unknownSubcommand refuses arguments to a command group (or the root):
// they name a command that does not exist. As docker's: exit 1 and
// "shoal: unknown command: shoal service foo".
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: unknown command: %s %s\n\n", cmd.Root().Name(), cmd.CommandPath(), args[0])
	if cmd.HasParent() {
		// docker 28 prints the group alone (recorded: testdata/parity).
		msg += fmt.Sprintf("Usage:  %s\n\n", cmd.CommandPath())
	}
	msg += fmt.Sprintf("Run '%s --help' for more information", cmd.CommandPath())
	return &statusError{code: ExitFailure, msg: msg}
}

// helpOnly prints a command group's help.
func helpOnly(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// serviceRow is one line of `service ls`.
type serviceRow struct {
	ID       string
	Name     string
	Mode     string
	Replicas string
	Image    string
	Ports    string
}

func newServiceLsCmd(a *app) *cobra.Command {
	var quiet bool
	var tmpl string
	var filters filterOpt
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List services",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			svcs, err := c.ServiceList(cmd.Context())
			if err != nil {
				return err
			}
			if svcs, err = filterServices(&filters, svcs); err != nil {
				return err
			}
			return a.printServices(cmd.Context(), c, svcs, tmpl, quiet)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	addFilterFlag(cmd.Flags(), &filters, serviceFilterHelp)
	return cmd
}

const serviceFilterHelp = "id, label, mode=replicated|global|replicated-job|global-job, name"

// filterServices keeps the services f's filters match: docker's service
// ls filters (id and name match a prefix; label=KEY or KEY=VALUE).
func filterServices(f *filterOpt, svcs []*api.Service) ([]*api.Service, error) {
	if err := f.check("id", "label", "mode", "name"); err != nil {
		return nil, err
	}
	for _, m := range f.set["mode"] {
		switch m {
		case "replicated", "global", "replicated-job", "global-job":
		default:
			return nil, fmt.Errorf("invalid filter 'mode=%s'", m)
		}
	}
	out := svcs[:0:0]
	for _, s := range svcs {
		if f.match("id", s.ID, strings.HasPrefix) && f.match("name", s.Spec.Name, strings.HasPrefix) &&
			f.match("mode", strings.ReplaceAll(s.Spec.Mode.Name(), " ", "-"), matchExact) &&
			f.matchLabels("label", s.Spec.Labels) {
			out = append(out, s)
		}
	}
	return out, nil
}

// printServices prints services as service ls does.
func (a *app) printServices(ctx context.Context, c *client.Client, svcs []*api.Service, tmpl string, quiet bool) error {
	tasks, err := c.TaskList(ctx, client.TaskFilter{})
	if err != nil {
		return err
	}
	byService := map[string][]*api.Task{}
	for _, t := range tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	rows := make([]serviceRow, 0, len(svcs))
	for _, s := range svcs {
		replicas := jobReplicas(s, byService[s.ID])
		if !s.Spec.Mode.IsJob() {
			running, desired := countReplicas(s, byService[s.ID])
			replicas = fmt.Sprintf("%d/%d", running, desired)
		}
		rows = append(rows, serviceRow{
			ID:       api.ShortID(s.ID),
			Name:     s.Spec.Name,
			Mode:     s.Spec.Mode.Name(),
			Replicas: replicas,
			Image:    imageOrCommand(s.Spec.TaskTemplate.ContainerSpec, true),
			Ports:    servicePorts(s),
		})
	}
	return format.Table{
		Columns: []format.Column{
			{Header: "ID", Field: "{{.ID}}"},
			{Header: "NAME", Field: "{{.Name}}"},
			{Header: "MODE", Field: "{{.Mode}}"},
			{Header: "REPLICAS", Field: "{{.Replicas}}"},
			// docker's header; a process service shows its command here.
			{Header: "IMAGE", Field: "{{.Image}}"},
			{Header: "PORTS", Field: "{{.Ports}}"},
		},
		Format: tmpl, Quiet: quiet, Stderr: a.stderr,
	}.Write(a.stdout, rows)
}

// servicePorts lists the ports a service publishes, with the published
// ports the manager allocated (a target-only port in ingress mode gets one
// from 30000-32767).
func servicePorts(s *api.Service) string {
	var ports []api.PortConfig
	switch {
	case s.Endpoint != nil && len(s.Endpoint.Ports) > 0:
		ports = s.Endpoint.Ports
	case s.Spec.EndpointSpec != nil:
		ports = s.Spec.EndpointSpec.Ports
	}
	var parts []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if p.PublishedPort != 0 {
			parts = append(parts, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, proto))
		} else {
			parts = append(parts, fmt.Sprintf("%d/%s", p.TargetPort, proto))
		}
	}
	return strings.Join(parts, ", ")
}

func newServicePsCmd(a *app) *cobra.Command {
	var f taskListFlags
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of one or more services",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var all []*api.Task
			for _, ref := range args {
				tasks, err := c.TaskList(cmd.Context(), client.TaskFilter{Service: ref})
				if err != nil {
					return noSuch("service", ref, err)
				}
				all = append(all, tasks...)
			}
			return f.print(a, cmd, c, all)
		},
	}
	f.add(cmd, taskFilterKeys...)
	return cmd
}

// noSuch rewords a not-found error as docker does.
func noSuch(kind, ref string, err error) error {
	if client.IsNotFound(err) {
		return fmt.Errorf("no such %s: %s", kind, ref)
	}
	return err
}

func newServiceInspectCmd(a *app) *cobra.Command {
	var tmpl string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short: "Show details of one or more services",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty && tmpl != "" {
				return usagef(cmd, "--format is incompatible with human friendly format (--pretty)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			found, errs := fetchEach("service", args, func(ref string) (*api.Service, error) { return c.ServiceInspect(cmd.Context(), ref) })
			if pretty {
				if err := writePretty(a.stdout, found, time.Now()); err != nil {
					return err
				}
				return errors.Join(errs...)
			}
			return printInspect(a, serviceViews(found), errs, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "print the information in a human friendly format")
	return cmd
}

func newServiceScaleCmd(a *app) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Scale one or more replicated services",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type target struct {
				ref string
				n   uint64
			}
			var targets []target
			for _, arg := range args {
				// docker's words and exit code (1); nothing is scaled.
				ref, v, ok := strings.Cut(arg, "=")
				if !ok || ref == "" {
					return &statusError{code: ExitFailure, msg: fmt.Sprintf("Invalid scale specifier '%s'.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
						arg, cmd.CommandPath(), cmd.UseLine(), cmd.Short)}
				}
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return &statusError{code: ExitFailure, msg: fmt.Sprintf("%s: invalid replicas value %s: %v", ref, v, err)}
				}
				targets = append(targets, target{ref, n})
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var errs []error
			var scaled []followTarget
			for _, t := range targets {
				updated, err := scaleService(cmd.Context(), c, t.ref, t.n)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "%s scaled to %d\n", t.ref, t.n)
				scaled = append(scaled, followTarget{Service: updated, Kind: followConverge})
			}
			if !detach {
				if err := a.followServices(cmd.Context(), c, scaled, false); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return at once instead of waiting for the services to converge")
	return cmd
}

// scaleService sets the replica count of service ref, reading it again if
// another writer changed it meanwhile.
func scaleService(ctx context.Context, c *client.Client, ref string, n uint64) (*api.Service, error) {
	for attempt := 1; ; attempt++ {
		svc, err := c.ServiceInspect(ctx, ref)
		if err != nil {
			return nil, noSuch("service", ref, err)
		}
		if svc.Spec.Mode.IsGlobal() {
			return nil, fmt.Errorf("%s: scale can only be used with replicated mode", ref)
		}
		spec := svc.Spec
		if j := spec.Mode.ReplicatedJob; j != nil {
			// A replicated job scales its completions, as docker's.
			spec.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: j.MaxConcurrent, TotalCompletions: n}}
		} else {
			spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: n}}
		}
		updated, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, spec)
		if client.IsConflict(err) && attempt < maxUpdateAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return updated, nil
	}
}

func newServiceRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more services",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.removeEach("service", args, func(ref string) error { return c.ServiceRemove(cmd.Context(), ref) })
		},
	}
}

// countReplicas returns how many of the service's tasks run and how many
// should (api.Service.ReplicaCounts).
func countReplicas(svc *api.Service, tasks []*api.Task) (running, desired int) {
	return svc.ReplicaCounts(tasks)
}
