package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// fileObject is a kind of cluster object made from a file's content (a
// config or a secret): the create, ls, inspect and rm commands are the
// same for both, around the client calls and what may be shown.
type fileObject[T any] struct {
	noun    string // "config"
	maxSize int
	// showData prints the content under inspect --pretty; a secret's
	// content is never shown (the API never returns it either).
	showData bool
	// The client calls, shaped as method expressions ((*client.Client).ConfigList).
	create  func(c *client.Client, ctx context.Context, name string, labels map[string]string, data []byte) (id string, err error)
	list    func(c *client.Client, ctx context.Context) ([]*T, error)
	inspect func(c *client.Client, ctx context.Context, ref string) (*T, error)
	remove  func(c *client.Client, ctx context.Context, ref string) error
	view    func(*T) objectView
	// docker is the object in Docker's shape, for inspect (dockershape.go).
	docker func(*T) any
}

// objectView is what the listings and --pretty show of an object.
type objectView struct {
	ID     string
	Name   string
	Meta   api.Meta
	Labels map[string]string
	Data   []byte
}

// command returns the `NOUN` command and its subcommands.
func (k fileObject[T]) command(a *app, short string) *cobra.Command {
	cmd := &cobra.Command{Use: k.noun, Short: short, Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(k.createCmd(a), k.lsCmd(a), k.inspectCmd(a), k.rmCmd(a))
	return cmd
}

func (k fileObject[T]) createCmd(a *app) *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("create [OPTIONS] %s FILE|-", upper(k.noun)),
		Short: fmt.Sprintf("Create a %s from a file or STDIN", k.noun),
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lbl, err := parseLabels("label", labels)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			data, err := readObjectData(a, k.noun, args[1], k.maxSize)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := k.create(c, cmd.Context(), args[0], lbl, data)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, id)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, k.noun+" label (KEY=VALUE)")
	return cmd
}

func (k fileObject[T]) lsCmd(a *app) *cobra.Command {
	var quiet bool
	var tmpl string
	var filters filterOpt
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   fmt.Sprintf("List %ss", k.noun),
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := filters.check("id", "label", "name"); err != nil {
				return err
			}
			objs, err := k.list(c, cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]objectRow, 0, len(objs))
			for _, o := range objs {
				v := k.view(o)
				// docker's: id and name match a prefix.
				if !filters.match("id", v.ID, strings.HasPrefix) || !filters.match("name", v.Name, strings.HasPrefix) || !filters.matchLabels("label", v.Labels) {
					continue
				}
				rows = append(rows, newObjectRow(v.ID, v.Name, v.Meta, v.Labels, now))
			}
			cols := objectColumns
			if !k.showData {
				// docker's secret ls has a DRIVER column (shoal has no
				// secret drivers: it is empty).
				cols = slices.Insert(slices.Clone(cols), 2, format.Column{Header: "DRIVER", Field: "{{.Driver}}"})
			}
			return format.Table{Columns: cols, Format: tmpl, Quiet: quiet, Stderr: a.stderr}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output: table, json, or a Go template")
	addFilterFlag(cmd.Flags(), &filters, "id, label, name")
	return cmd
}

func (k fileObject[T]) inspectCmd(a *app) *cobra.Command {
	var tmpl string
	var pretty bool
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("inspect [OPTIONS] %[1]s [%[1]s...]", upper(k.noun)),
		Short: fmt.Sprintf("Show details of one or more %ss", k.noun),
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty && tmpl != "" {
				return usagef(cmd, "--format is incompatible with human friendly format (--pretty)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			found, errs := fetchEach(k.noun, args, func(ref string) (*T, error) { return k.inspect(c, cmd.Context(), ref) })
			if !pretty {
				views := make([]any, 0, len(found))
				for _, o := range found {
					views = append(views, k.docker(o))
				}
				return printInspect(a, views, errs, tmpl)
			}
			now := time.Now()
			for i, o := range found {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				if err := k.printPretty(a.stdout, k.view(o), now); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "print the information in a human friendly format")
	return cmd
}

func (k fileObject[T]) printPretty(out io.Writer, v objectView, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 0, 4, ' ', 0)
	prettyObject(w, v.ID, v.Name, v.Labels, v.Meta, now)
	if k.showData {
		fmt.Fprintln(w, "Data:")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !k.showData {
		return nil
	}
	data := v.Data
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data[:len(data):len(data)], '\n')
	}
	_, err := out.Write(data)
	return err
}

func (k fileObject[T]) rmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     fmt.Sprintf("rm %[1]s [%[1]s...]", upper(k.noun)),
		Aliases: []string{"remove"},
		Short:   fmt.Sprintf("Remove one or more %ss", k.noun),
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.removeEach(k.noun, args, func(ref string) error { return k.remove(c, cmd.Context(), ref) })
		},
	}
}

// upper is the noun as a usage line's placeholder: "config" → "CONFIG".
func upper(noun string) string {
	b := []byte(noun)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
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
	Driver    string
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
