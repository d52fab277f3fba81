package api

import "time"

// LogOptions say what `service logs` shows of a task's output, as the
// options of docker's logs.
type LogOptions struct {
	// Follow keeps streaming as the task writes.
	Follow bool
	// Tail is how many of the last lines to show; below 0, all of them.
	Tail int
	// Since, when not zero, drops lines written before it.
	Since time.Time
	// Timestamps starts each line with the time it was written
	// (RFC 3339 with nanoseconds) and a space.
	Timestamps bool
	// Details adds the attributes the log driver gives each line.
	Details bool
}

// NeedTimes reports whether the options need the time of each line, which
// only a runtime that records it can give.
func (o LogOptions) NeedTimes() bool { return o.Timestamps || !o.Since.IsZero() }
