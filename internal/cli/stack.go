package cli

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
	"github.com/shoalproject/shoal/internal/compose"
	"github.com/shoalproject/shoal/internal/stack"
)

func newStackCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "stack", Short: "Manage stacks: compose files deployed as services", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newStackDeployCmd(a), newStackLsCmd(a), newStackServicesCmd(a), newStackPsCmd(a), newStackRmCmd(a))
	return cmd
}

// environ is the caller's environment as a map, for ${VAR} in stack files.
func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func newStackDeployCmd(a *app) *cobra.Command {
	var files []string
	var prune, detach, dryRun, quiet, registryAuth bool
	var resolveImage string
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing one",
		Long: `Deploy the services, configs, secrets and networks of one or more compose
files (the stack files Docker Swarm takes) as stack STACK. Deploying the same
files again changes nothing; a changed service is updated with its
update_config. Without --detach it waits until every changed service has
converged and exits 1 if one fails to.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if len(files) == 0 {
				return usagef(cmd, "please specify a compose file (--compose-file/-c)")
			}
			switch resolveImage {
			case "always", "changed", "never":
			default:
				return usagef(cmd, "invalid option %s for flag --resolve-image", resolveImage)
			}
			if err := api.ValidateName("stack", name); err != nil {
				return usagef(cmd, "%v", err)
			}
			st, err := compose.Load(cmd.Context(), compose.Options{Files: files, Stdin: a.stdin, Project: name, Env: environ()})
			if err != nil {
				return err
			}
			for _, w := range st.Warnings {
				fmt.Fprintln(a.stderr, w)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			plan, err := stack.Make(cmd.Context(), c, st, prune)
			if err != nil {
				return err
			}
			if dryRun {
				for _, s := range plan.Steps {
					fmt.Fprintln(a.stdout, s)
				}
				return nil
			}
			before := map[string]*api.Service{}
			for _, s := range plan.Steps {
				if s.Kind == "service" && s.Action == stack.Update {
					before[s.Name] = s.Current()
				}
			}
			err = stack.Apply(cmd.Context(), c, plan, func(s stack.Step) {
				if quiet {
					return
				}
				verb := map[stack.Action]string{stack.Create: "Creating", stack.Update: "Updating", stack.Remove: "Removing"}[s.Action]
				if verb != "" {
					fmt.Fprintf(a.stdout, "%s %s %s\n", verb, s.Kind, s.Name)
				}
			})
			if err != nil {
				return err
			}
			changed := plan.Changed()
			if len(changed) == 0 && !quiet {
				fmt.Fprintf(a.stdout, "Stack %s is up to date: nothing changed\n", name)
			}
			if detach || len(changed) == 0 {
				return nil
			}
			var targets []followTarget
			for _, n := range changed {
				after, err := c.ServiceInspect(cmd.Context(), n)
				if err != nil {
					return err
				}
				targets = append(targets, followTargetOf(before[n], after))
			}
			return a.followServices(cmd.Context(), c, targets, quiet)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "compose-file", "c", nil, "path to a compose file, or \"-\" to read from stdin (repeatable)")
	cmd.Flags().BoolVar(&prune, "prune", false, "remove services that are no longer in the files")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return at once instead of waiting for the services to converge")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be created, updated and removed, and change nothing")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress progress output")
	cmd.Flags().BoolVar(&registryAuth, "with-registry-auth", false, "accepted for docker's scripts: shoal sends no registry credentials; each node pulls with its engine's own")
	cmd.Flags().StringVar(&resolveImage, "resolve-image", "always", "accepted for docker's scripts (always, changed or never): shoal never asks a registry for an image's digest")
	return cmd
}

// stackServices lists the services of stack name, sorted.
func stackServices(cmd *cobra.Command, c *client.Client, name string) ([]*api.Service, error) {
	all, err := c.ServiceList(cmd.Context())
	if err != nil {
		return nil, err
	}
	var out []*api.Service
	for _, s := range all {
		if s.Spec.Labels[api.StackNamespaceLabel] == name {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", stack.ErrEmptyStack, name)
	}
	return out, nil
}

type stackRow struct {
	Name     string
	Services int
}

func newStackLsCmd(a *app) *cobra.Command {
	var tmpl string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List stacks",
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
			count := map[string]int{}
			for _, s := range svcs {
				if ns := s.Spec.Labels[api.StackNamespaceLabel]; ns != "" {
					count[ns]++
				}
			}
			rows := make([]stackRow, 0, len(count))
			for n, k := range count {
				rows = append(rows, stackRow{Name: n, Services: k})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			return format.Table{
				Columns: []format.Column{{Header: "NAME", Field: "{{.Name}}"}, {Header: "SERVICES", Field: "{{.Services}}"}},
				IDField: "Name", Format: tmpl, Quiet: quiet, Stderr: a.stderr,
			}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display stack names")
	return cmd
}

func newStackServicesCmd(a *app) *cobra.Command {
	var tmpl string
	var quiet bool
	var filters filterOpt
	cmd := &cobra.Command{
		Use:   "services [OPTIONS] STACK",
		Short: "List the services of a stack",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			svcs, err := stackServices(cmd, c, args[0])
			if errors.Is(err, stack.ErrEmptyStack) {
				// docker's: a message, and success.
				fmt.Fprintf(a.stderr, "Nothing found in stack: %s\n", args[0])
				return nil
			}
			if err != nil {
				return err
			}
			if svcs, err = filterServices(&filters, svcs); err != nil {
				return err
			}
			return a.printServices(cmd.Context(), c, svcs, tmpl, quiet)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	addFilterFlag(cmd.Flags(), &filters, serviceFilterHelp)
	return cmd
}

func newStackPsCmd(a *app) *cobra.Command {
	var f taskListFlags
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] STACK",
		Short: "List the tasks of a stack",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			svcs, err := stackServices(cmd, c, args[0])
			if err != nil {
				return err
			}
			inStack := map[string]bool{}
			for _, s := range svcs {
				inStack[s.ID] = true
			}
			tasks, err := c.TaskList(cmd.Context(), client.TaskFilter{})
			if err != nil {
				return err
			}
			var all []*api.Task
			for _, t := range tasks {
				if inStack[t.ServiceID] {
					all = append(all, t)
				}
			}
			return f.print(a, cmd, c, all)
		},
	}
	f.add(cmd, taskFilterKeys...)
	return cmd
}

func newStackRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove stacks: their services, and the configs, secrets and networks they created",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				err := stack.Teardown(cmd.Context(), c, name, func(kind, obj string) {
					fmt.Fprintf(a.stdout, "Removing %s %s\n", kind, obj)
				})
				if errors.Is(err, stack.ErrEmptyStack) {
					// docker's: a message, and on to the next stack.
					fmt.Fprintf(a.stderr, "Nothing found in stack: %s\n", name)
					continue
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}
