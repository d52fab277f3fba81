package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// eventLine is one event as `shoal events` shows it, in docker's words.
type eventLine struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"Type"`
	Action     string            `json:"Action"`
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

func newEventsCmd(a *app) *cobra.Command {
	var since, until, tmpl string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Stream the cluster's changes, like docker events",
		Long: `Stream the cluster's changes as they happen: services, tasks, nodes,
configs, secrets and networks created, updated and removed, in docker's
words ("service update ID (name=web)").

shoal keeps no event history: --since can only start the stream now or
later; --until ends it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := client.EventFilter{}
			var names []string
			for _, kv := range filters {
				k, v, ok := strings.Cut(kv, "=")
				switch {
				case !ok:
					return usagef(cmd, "invalid --filter %q: want key=value", kv)
				case k == "type":
					if !slices.Contains(api.EventTypes, v) {
						return usagef(cmd, "invalid --filter type=%s: want one of %s", v, strings.Join(api.EventTypes, ", "))
					}
					f.Types = append(f.Types, v)
				case k == "service":
					f.Service = v
				case k == "name":
					names = append(names, v)
				default:
					return usagef(cmd, "invalid --filter %q: the keys are type, service and name", kv)
				}
			}
			now := time.Now()
			start, err := eventTime(since, now, -1)
			if err != nil {
				return usagef(cmd, "invalid --since %q: %v", since, err)
			}
			end, err := eventTime(until, now, +1)
			if err != nil {
				return usagef(cmd, "invalid --until %q: %v", until, err)
			}
			var t *template.Template
			if tmpl != "" && tmpl != "json" {
				if t, err = format.Parse(tmpl); err != nil {
					return usagef(cmd, "%v", err)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !start.IsZero() && start.Before(now.Add(-time.Second)) {
				fmt.Fprintln(a.stderr, "shoal keeps no event history: showing events from now on")
			}
			if !end.IsZero() {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, end)
				defer cancel()
			}
			err = c.Events(ctx, f, func(ev api.Event) error {
				line, ok := eventLineOf(ev, time.Now())
				if !ok || (len(names) > 0 && !slices.Contains(names, line.Attributes["name"])) || line.Time.Before(start) {
					return nil
				}
				switch {
				case tmpl == "json":
					b, err := json.Marshal(line)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(a.stdout, "%s\n", b)
					return err
				case t != nil:
					if err := t.Execute(a.stdout, line); err != nil {
						return err
					}
					_, err := fmt.Fprintln(a.stdout)
					return err
				}
				_, err := fmt.Fprintf(a.stdout, "%s %s %s %s (%s)\n", line.Time.UTC().Format(time.RFC3339Nano), line.Type, line.Action, line.ID, attrs(line.Attributes))
				return err
			})
			if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) && ctx.Err() != nil {
				return nil // --until, or interrupted
			}
			return err
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "show events from this time (RFC 3339, Unix seconds or a duration such as 10m ago); shoal keeps no history")
	cmd.Flags().StringVar(&until, "until", "", "stop at this time (RFC 3339, Unix seconds, or a duration from now such as 30s)")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: type=service|task|node|config|secret|network, service=NAME, name=NAME")
	cmd.Flags().StringVar(&tmpl, "format", "", `format with a Go template ({{.Type}} {{.Action}} {{.ID}} {{.Attributes.name}}), or "json"`)
	return cmd
}

// eventTime reads --since/--until: RFC 3339, Unix seconds, or a duration
// counted from now in direction sign. Docker reads a duration as before
// now for both; with no history to show, an --until in the past would end
// the stream at once, so shoal reads "--until 30s" as 30 seconds from now.
func eventTime(v string, now time.Time, sign int) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339, Unix seconds or a duration")
	}
	return now.Add(time.Duration(sign) * d), nil
}

// eventLineOf puts a change in docker's words; the stream's sync and
// error lines are not events.
func eventLineOf(ev api.Event, now time.Time) (eventLine, bool) {
	l := eventLine{Time: now, Type: ev.Type, Action: ev.Action, ID: ev.ID, Attributes: map[string]string{}}
	if name := ev.Name(); name != "" {
		l.Attributes["name"] = name
	}
	switch {
	case ev.Task != nil:
		l.Attributes["service"] = ev.Task.ServiceName
		l.Attributes["node"] = ev.Task.NodeID
		l.Attributes["state"] = ev.Task.Status.State.String()
	case ev.Node != nil:
		l.Attributes["state"] = ev.Node.Status.State
	}
	return l, slices.Contains(api.EventTypes, ev.Type)
}

// attrs lists attributes as docker does: sorted key=value pairs.
func attrs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}
