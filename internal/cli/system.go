package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	goruntime "runtime"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// versionInfo is what `shoal version` prints, in the shape of docker
// version's, so that `--format '{{.Client.Version}}'` and
// `'{{.Server.Version}}'` work as with docker.
type versionInfo struct {
	Client clientVersion
	// Server is nil when no manager answers.
	Server *serverVersion
}

type clientVersion struct {
	Version   string
	GoVersion string
	Os        string
	Arch      string
}

type serverVersion struct {
	Version string
	// NodeID is the answering manager's node ID.
	NodeID string
}

func newVersionCmd(a *app) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the shoal version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Client: clientVersion{Version: version, GoVersion: goruntime.Version(), Os: goruntime.GOOS, Arch: goruntime.GOARCH}}
			// As docker's, the client's part is printed even when the
			// server does not answer; the command then fails.
			var serverErr error
			c, err := a.client()
			if err == nil {
				var info *api.Info
				if info, serverErr = c.Info(cmd.Context()); serverErr == nil {
					v.Server = &serverVersion{Version: info.Version, NodeID: info.NodeID}
				}
			} else {
				serverErr = err
			}
			if tmpl != "" {
				if err := writeTemplate(a.stdout, v, tmpl); err != nil {
					return err
				}
				return serverErr
			}
			w := tabwriter.NewWriter(a.stdout, 0, 0, 1, ' ', 0)
			fmt.Fprintf(w, "Client:\n Version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n", v.Client.Version, v.Client.GoVersion, v.Client.Os, v.Client.Arch)
			if s := v.Server; s != nil {
				fmt.Fprintf(w, "\nServer:\n Version:\t%s\n Node ID:\t%s\n", s.Version, s.NodeID)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return serverErr
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template, or json")
	return cmd
}

// writeTemplate prints v with a Go template, or as JSON for "json", as the
// docker CLI's --format does for one object.
func writeTemplate(w io.Writer, v any, tmpl string) error {
	if tmpl == "json" {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	t, err := format.Parse(tmpl)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// clusterInfo is what `shoal info` prints: the part of docker info's shape
// a Swarm script reads (`--format '{{.Swarm.LocalNodeState}}'`,
// `{{.Swarm.NodeID}}`, `{{.Swarm.ControlAvailable}}`, `{{.Swarm.Nodes}}`,
// `{{.ServerVersion}}`), and counts of the cluster's objects.
type clusterInfo struct {
	ServerVersion string
	Swarm         swarmInfo
	Services      int
	// Tasks counts the tasks meant to run; TasksRunning those that do.
	Tasks, TasksRunning int
	Configs             int
	Secrets             int
	Networks            int
	// DataDir is the answering manager's data folder.
	DataDir string `json:",omitempty"`
}

type swarmInfo struct {
	NodeID string
	// LocalNodeState is "active", as docker's for a node in a Swarm.
	LocalNodeState   string
	ControlAvailable bool
	// Leader is the leading manager's node ID (docker has no such field).
	Leader   string
	Managers int
	Nodes    int
}

func newInfoCmd(a *app) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display cluster-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := gatherInfo(cmd, a)
			if err != nil {
				return err
			}
			if tmpl != "" {
				return writeTemplate(a.stdout, info, tmpl)
			}
			// docker info's layout: "Key: value", indented by level.
			s := info.Swarm
			fmt.Fprintf(a.stdout, "Server:\n Server Version: %s\n Swarm: %s\n  NodeID: %s\n  Is Manager: %t\n  Leader: %s\n  Managers: %d\n  Nodes: %d\n",
				info.ServerVersion, s.LocalNodeState, s.NodeID, s.ControlAvailable, s.Leader, s.Managers, s.Nodes)
			fmt.Fprintf(a.stdout, " Services: %d\n Tasks: %d\n  Running: %d\n Configs: %d\n Secrets: %d\n Networks: %d\n",
				info.Services, info.Tasks, info.TasksRunning, info.Configs, info.Secrets, info.Networks)
			if info.DataDir != "" {
				fmt.Fprintf(a.stdout, " Data Dir: %s\n", info.DataDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format output with a Go template, or json")
	return cmd
}

// gatherInfo asks the cluster for what `shoal info` shows.
func gatherInfo(cmd *cobra.Command, a *app) (*clusterInfo, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	mi, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := &clusterInfo{ServerVersion: mi.Version, DataDir: mi.DataDir,
		Swarm: swarmInfo{NodeID: mi.NodeID, LocalNodeState: "active", ControlAvailable: true, Leader: mi.Leader}}
	nodes, err := c.NodeList(ctx)
	if err != nil {
		return nil, err
	}
	out.Swarm.Nodes = len(nodes)
	for _, n := range nodes {
		if n.Spec.Role == api.RoleManager {
			out.Swarm.Managers++
		}
	}
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		return nil, err
	}
	out.Services = len(svcs)
	tasks, err := c.TaskList(ctx, client.TaskFilter{})
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		if t.DesiredState == api.TaskStateRunning {
			out.Tasks++
			if t.Status.State == api.TaskStateRunning {
				out.TasksRunning++
			}
		}
	}
	cfgs, err := c.ConfigList(ctx)
	if err != nil {
		return nil, err
	}
	secs, err := c.SecretList(ctx)
	if err != nil {
		return nil, err
	}
	nets, err := c.NetworkList(ctx)
	if err != nil {
		return nil, err
	}
	out.Configs, out.Secrets, out.Networks = len(cfgs), len(secs), len(nets)
	return out, nil
}

// newSystemCmd is docker's `system` group: `system info` is `info`.
func newSystemCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage shoal", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newInfoCmd(a))
	return cmd
}
