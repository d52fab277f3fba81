package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/client"
)

func newServiceLogsCmd(a *app) *cobra.Command {
	var o client.LogsOptions
	var since string
	var noTaskIDs, noTrunc bool
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Show the output of a service's tasks, or of one task",
		Long: `Show the output of a service's tasks, or of one task, each line prefixed
"web.1.TASKID@HOST |" as docker's. --timestamps and --since need the time of
each line, which only the docker runtime keeps: a process task answers with
an error line instead.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Tail != "all" {
				if n, err := strconv.Atoi(o.Tail); err != nil || n < 0 {
					return usagef(cmd, "invalid --tail %q: want a number of lines or all", o.Tail)
				}
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usagef(cmd, "invalid --since %q: %v", since, err)
				}
				o.Since = t
			}
			switch {
			case noTaskIDs:
				o.IDs = "none"
			case noTrunc:
				o.IDs = "full"
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			err = c.ServiceLogsWith(cmd.Context(), args[0], o, a.stdout)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			if client.IsNotFound(err) {
				return fmt.Errorf("no such task or service: %s", args[0])
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.Follow, "follow", "f", false, "follow the output")
	fs.StringVarP(&o.Tail, "tail", "n", "all", "number of lines to show from the end of each task's output")
	fs.StringVar(&since, "since", "", "show lines written since a time (2013-01-02T13:23:37Z) or for a duration (42m)")
	fs.BoolVarP(&o.Timestamps, "timestamps", "t", false, "show the time of each line (docker runtime)")
	fs.BoolVar(&o.Raw, "raw", false, "do not prefix the lines")
	fs.BoolVar(&noTaskIDs, "no-task-ids", false, "do not include task IDs in the prefix")
	fs.BoolVar(&noTrunc, "no-trunc", false, "do not truncate the task IDs in the prefix")
	fs.BoolVar(&o.NoResolve, "no-resolve", false, "do not map IDs to names in the prefix")
	fs.BoolVar(&o.Details, "details", false, "show the extra details the log driver gives (docker runtime)")
	return cmd
}

// parseSince reads --since as docker does: a duration before now, an RFC
// 3339 time, a date and time without a zone (local), a date, or Unix
// seconds.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	return time.Time{}, errors.New("want a time (2013-01-02T13:23:37Z), a duration (42m) or Unix seconds")
}
