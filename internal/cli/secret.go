package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// The secret commands never print a secret's data: the API never returns
// it.

func newSecretCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage secrets", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newSecretCreateCmd(a), newSecretLsCmd(a), newSecretInspectCmd(a), newSecretRmCmd(a))
	return cmd
}

func newSecretCreateCmd(a *app) *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] SECRET FILE|-",
		Short: "Create a secret from a file or STDIN",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lbl, err := parseLabels("label", labels)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			data, err := readObjectData(a, "secret", args[1], api.MaxSecretSize)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			sec, err := c.SecretCreate(cmd.Context(), api.SecretSpec{Name: args[0], Labels: lbl, Data: data})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, sec.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "secret label (KEY=VALUE)")
	return cmd
}

func newSecretLsCmd(a *app) *cobra.Command {
	var quiet bool
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List secrets",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			secs, err := c.SecretList(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]objectRow, 0, len(secs))
			for _, s := range secs {
				rows = append(rows, newObjectRow(s.ID, s.Spec.Name, s.Meta, s.Spec.Labels, now))
			}
			return format.Table{Columns: objectColumns, Format: tmpl, Quiet: quiet, Stderr: a.stderr}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	return cmd
}

func newSecretInspectCmd(a *app) *cobra.Command {
	var tmpl string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SECRET [SECRET...]",
		Short: "Show details of one or more secrets",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty && tmpl != "" {
				return usagef(cmd, "--format is incompatible with human friendly format (--pretty)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var found []*api.Secret
			var errs []error
			for _, ref := range args {
				s, err := c.SecretInspect(cmd.Context(), ref)
				if err != nil {
					errs = append(errs, noSuch("secret", ref, err))
					continue
				}
				// The API never sends it; never print it either.
				s.Spec.Data = nil
				found = append(found, s)
			}
			if pretty {
				now := time.Now()
				for i, s := range found {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					w := tabwriter.NewWriter(a.stdout, 0, 0, 4, ' ', 0)
					prettyObject(w, s.ID, s.Spec.Name, s.Spec.Labels, s.Meta, now)
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return errors.Join(errs...)
			}
			return printInspect(a, found, errs, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "print the information in a human friendly format")
	return cmd
}

func newSecretRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SECRET [SECRET...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more secrets",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.removeEach("secret", args, func(ref string) error { return c.SecretRemove(cmd.Context(), ref) })
		},
	}
}
