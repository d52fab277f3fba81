package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// writeNodesPretty prints nodes the way `docker node inspect --pretty`
// does, separated by blank lines; self is the node the CLI talks to, and
// leader is the leading manager.
func writeNodesPretty(w io.Writer, nodes []*api.Node, self, leader string, now time.Time) error {
	for i, n := range nodes {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := prettyNode(w, n, self, leader, now); err != nil {
			return err
		}
	}
	return nil
}

func prettyNode(out io.Writer, n *api.Node, self, leader string, now time.Time) error {
	// Every line has a cell, section headings included, so that the
	// values line up across the sections; the padding that leaves after
	// a heading is trimmed.
	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 0, 0, 4, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	labels := func(name string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		p("%s:\t", name)
		for _, k := range sortedKeys(m) {
			p(" - %s=%s\t", k, m[k])
		}
	}
	desc := n.Description
	p("ID:\t%s", n.ID)
	labels("Labels", n.Spec.Labels)
	p("Hostname:\t%s", desc.Hostname)
	p("Joined at:\t%s (%s)", n.CreatedAt.UTC().Format(time.RFC3339), format.Ago(n.CreatedAt, now))
	p("Status:\t")
	p(" State:\t%s", title(n.Status.State))
	if n.Status.Message != "" {
		p(" Message:\t%s", n.Status.Message)
	}
	p(" Availability:\t%s", title(n.Spec.Availability))
	p(" Address:\t%s", n.Status.Addr)
	if n.Spec.Role == api.RoleManager {
		p("Manager Status:\t")
		p(" Raft Status:\t%s", managerStatus(n, self, leader))
		p(" Leader:\t%s", yesNo(n.ID == leader))
	}
	p("Platform:\t")
	p(" Operating System:\t%s", desc.Platform.OS)
	p(" Architecture:\t%s", desc.Platform.Architecture)
	p("Resources:\t")
	p(" CPUs:\t%g", float64(desc.Resources.NanoCPUs)/1e9)
	p(" Memory:\t%s", units.BytesSize(float64(desc.Resources.MemoryBytes)))
	p("Runtimes:\t%s", strings.Join(desc.Runtimes, ", "))
	p("Engine Version:\t%s", desc.EngineVersion)
	labels("Engine Labels", desc.EngineLabels)
	if err := w.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if _, err := io.WriteString(out, strings.TrimRight(line, " \n")+strings.Repeat("\n", strings.Count(line, "\n"))); err != nil {
			return err
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}
