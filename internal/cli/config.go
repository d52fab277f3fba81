package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cli/format"
)

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Manage configs", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newConfigCreateCmd(a), newConfigLsCmd(a), newConfigInspectCmd(a), newConfigRmCmd(a))
	return cmd
}

// readObjectData reads a config's or secret's content from file, or from
// stdin for "-", refusing more than limit bytes before sending anything.
func readObjectData(a *app, kind, file string, limit int) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		r = a.stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read %s data: %w", kind, err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s data: %w", kind, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s data is larger than the %d KB a %s may hold", kind, limit/1024, kind)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s data is empty", kind)
	}
	return data, nil
}

// objectRow is one line of `config ls` and `secret ls`.
type objectRow struct {
	ID        string
	Name      string
	CreatedAt string
	UpdatedAt string
	Labels    string
}

var objectColumns = []format.Column{
	{Header: "ID", Field: "{{.ID}}"},
	{Header: "NAME", Field: "{{.Name}}"},
	{Header: "CREATED", Field: "{{.CreatedAt}}"},
	{Header: "UPDATED", Field: "{{.UpdatedAt}}"},
}

func newObjectRow(id, name string, m api.Meta, labels map[string]string, now time.Time) objectRow {
	return objectRow{ID: id, Name: name, CreatedAt: format.Ago(m.CreatedAt, now), UpdatedAt: format.Ago(m.UpdatedAt, now), Labels: labelList(labels)}
}

// labelKeys returns a label map's keys, sorted.
func labelKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// labelList joins labels as K=V,K=V, sorted.
func labelList(m map[string]string) string {
	s := ""
	for i, k := range labelKeys(m) {
		if i > 0 {
			s += ","
		}
		s += k + "=" + m[k]
	}
	return s
}

// prettyObject prints the fields `config inspect --pretty` and `secret
// inspect --pretty` share.
func prettyObject(w *tabwriter.Writer, id, name string, labels map[string]string, m api.Meta, now time.Time) {
	fmt.Fprintf(w, "ID:\t%s\n", id)
	fmt.Fprintf(w, "Name:\t%s\n", name)
	if len(labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		for _, k := range labelKeys(labels) {
			fmt.Fprintf(w, " - %s=%s\n", k, labels[k])
		}
	}
	fmt.Fprintf(w, "Created at:\t%s\n", format.Ago(m.CreatedAt, now))
	fmt.Fprintf(w, "Updated at:\t%s\n", format.Ago(m.UpdatedAt, now))
}

func newConfigCreateCmd(a *app) *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] CONFIG FILE|-",
		Short: "Create a config from a file or STDIN",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lbl, err := parseLabels("label", labels)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			data, err := readObjectData(a, "config", args[1], api.MaxConfigSize)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cfg, err := c.ConfigCreate(cmd.Context(), api.ConfigSpec{Name: args[0], Labels: lbl, Data: data})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, cfg.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "config label (KEY=VALUE)")
	return cmd
}

func newConfigLsCmd(a *app) *cobra.Command {
	var quiet bool
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List configs",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cfgs, err := c.ConfigList(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]objectRow, 0, len(cfgs))
			for _, cfg := range cfgs {
				rows = append(rows, newObjectRow(cfg.ID, cfg.Spec.Name, cfg.Meta, cfg.Spec.Labels, now))
			}
			return format.Table{Columns: objectColumns, Format: tmpl, Quiet: quiet, Stderr: a.stderr}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	return cmd
}

func newConfigInspectCmd(a *app) *cobra.Command {
	var tmpl string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONFIG [CONFIG...]",
		Short: "Show details of one or more configs",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty && tmpl != "" {
				return usagef(cmd, "--format is incompatible with human friendly format (--pretty)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			found, errs := fetchEach("config", args, func(ref string) (*api.Config, error) { return c.ConfigInspect(cmd.Context(), ref) })
			if pretty {
				now := time.Now()
				for i, cfg := range found {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					w := tabwriter.NewWriter(a.stdout, 0, 0, 4, ' ', 0)
					prettyObject(w, cfg.ID, cfg.Spec.Name, cfg.Spec.Labels, cfg.Meta, now)
					fmt.Fprintln(w, "Data:")
					if err := w.Flush(); err != nil {
						return err
					}
					data := cfg.Spec.Data
					if len(data) > 0 && data[len(data)-1] != '\n' {
						data = append(data, '\n')
					}
					if _, err := a.stdout.Write(data); err != nil {
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

func newConfigRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm CONFIG [CONFIG...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more configs",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.removeEach("config", args, func(ref string) error { return c.ConfigRemove(cmd.Context(), ref) })
		},
	}
}
