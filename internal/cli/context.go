package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/cli/format"
	"github.com/shoalproject/shoal/internal/clicontext"
)

// `shoal context`, as `docker context`: named endpoints in the user's
// config folder (clicontext).
func newContextCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "context", Short: "Manage contexts: named managers to talk to", Args: unknownSubcommand, RunE: helpOnly,
		Long: `A context names a manager to talk to: its host (unix:///path or
tcp://HOST:PORT) and, for tcp://, the operator certificate to show
(` + "`shoal swarm ca --issue-client NAME --out DIR`" + ` makes one; --cert-path DIR is
copied into the context). Contexts are kept in SHOAL_CONFIG, else the
user's config folder (shoal/contexts), folders 0700 and files 0600.

The CLI talks to, in this order: -H, SHOAL_HOST (with --tlsverify and
the TLS flags or SHOAL_CERT_PATH and SHOAL_TLS_VERIFY), --context,
SHOAL_CONTEXT, the context ` + "`shoal context use`" + ` chose, and the local
manager's socket (the "default" context).`}
	cmd.AddCommand(newContextCreateCmd(a), newContextUseCmd(a), newContextLsCmd(a), newContextRmCmd(a),
		newContextInspectCmd(a), newContextShowCmd(a))
	return cmd
}

func newContextCreateCmd(a *app) *cobra.Command {
	var c clicontext.Context
	var certPath string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] CONTEXT",
		Short: "Create a context",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.Host == "" {
				return usagef(cmd, "--host is required: unix:///path/to/shoal.sock or tcp://HOST:PORT")
			}
			st, err := a.store()
			if err != nil {
				return err
			}
			c.Name = args[0]
			if certPath != "" {
				if certPath, err = filepath.Abs(certPath); err != nil {
					return err
				}
			}
			if err := st.Create(c, certPath); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, c.Name)
			fmt.Fprintf(a.stderr, "Successfully created context %q\n", c.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&c.Host, "host", "", "the manager: unix:///path/to/shoal.sock or tcp://HOST:PORT")
	cmd.Flags().StringVar(&certPath, "cert-path", "", "folder holding the operator certificate (ca.pem, cert.pem, key.pem), copied into the context; required for tcp://")
	cmd.Flags().StringVar(&c.Description, "description", "", "description of the context")
	return cmd
}

func newContextUseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "use CONTEXT",
		Short: "Set the current context",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store()
			if err != nil {
				return err
			}
			if err := st.Use(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, args[0])
			fmt.Fprintf(a.stderr, "Current context is now %q\n", args[0])
			return nil
		},
	}
}

// contextRow is a row of `context ls`, with docker's fields.
type contextRow struct {
	Name          string
	Description   string
	ShoalEndpoint string
	Current       bool
	Error         string
}

func newContextLsCmd(a *app) *cobra.Command {
	var tmpl string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List contexts",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store()
			if err != nil {
				return err
			}
			list, bad, err := st.List()
			if err != nil {
				return err
			}
			cur, err := a.currentContext(st)
			if err != nil {
				return err
			}
			rows := []contextRow{{Name: clicontext.Default, Description: "Local manager (DATA-DIR/shoal.sock or SHOAL_HOST)", ShoalEndpoint: defaultHost(), Current: cur == clicontext.Default}}
			for _, c := range list {
				r := contextRow{Name: c.Name, Description: c.Description, ShoalEndpoint: c.Host, Current: cur == c.Name}
				if err := bad[c.Name]; err != nil {
					r.Error = err.Error()
				}
				rows = append(rows, r)
			}
			return format.Table{
				Columns: []format.Column{
					{Header: "NAME", Field: "{{.Name}}{{if .Current}} *{{end}}"},
					{Header: "DESCRIPTION", Field: "{{.Description}}"},
					{Header: "SHOAL ENDPOINT", Field: "{{.ShoalEndpoint}}"},
					{Header: "ERROR", Field: "{{.Error}}"},
				},
				IDField: "Name", Format: tmpl, Quiet: quiet, Stderr: a.stderr,
			}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show context names")
	return cmd
}

// currentContext is the context in use when no host is given: --context,
// SHOAL_CONTEXT, then the store's current one.
func (a *app) currentContext(st clicontext.Store) (string, error) {
	if a.conn.context != "" {
		return a.conn.context, nil
	}
	if c := os.Getenv("SHOAL_CONTEXT"); c != "" {
		return c, nil
	}
	return st.Current()
}

func newContextRmCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTEXT [CONTEXT...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more contexts",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store()
			if err != nil {
				return err
			}
			cur, err := st.Current()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if name == cur && !force {
					errs = append(errs, fmt.Errorf("context %q is in use, set -f flag to force remove", name))
					continue
				}
				if err := st.Remove(name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(a.stdout, name)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the removal of a context in use")
	return cmd
}

// contextView is what `context inspect` shows.
type contextView struct {
	Name        string
	Description string `json:",omitempty"`
	Host        string
	// TLS says the context holds an operator certificate.
	TLS     bool
	Storage struct{ MetadataPath, TLSPath string }
}

func newContextInspectCmd(a *app) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] [CONTEXT] [CONTEXT...]",
		Short: "Display detailed information on one or more contexts",
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				cur, err := a.currentContext(st)
				if err != nil {
					return err
				}
				args = []string{cur}
			}
			found, errs := fetchEach("context", args, func(name string) (*contextView, error) {
				if name == clicontext.Default {
					return &contextView{Name: name, Description: "Local manager", Host: defaultHost()}, nil
				}
				c, err := st.Get(name)
				if err != nil {
					return nil, err
				}
				v := &contextView{Name: c.Name, Description: c.Description, Host: c.Host, TLS: c.TLS}
				v.Storage.MetadataPath = filepath.Join(st.Dir, "contexts", c.Name)
				if c.TLS {
					v.Storage.TLSPath = filepath.Dir(st.TLSFiles(c.Name).CA)
				}
				return v, nil
			})
			return printInspect(a, found, errs, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	return cmd
}

func newContextShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print the name of the current context",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store()
			if err != nil {
				return err
			}
			cur, err := a.currentContext(st)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, cur)
			return nil
		},
	}
}
