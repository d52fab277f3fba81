package format

import (
	"time"

	units "github.com/docker/go-units"
)

// HumanDuration returns a human-readable approximation of d, exactly as
// docker's units.HumanDuration does: "Less than a second", "1 second",
// "About a minute", "3 hours", "2 weeks", ...
func HumanDuration(d time.Duration) string {
	return units.HumanDuration(d)
}

// Ago returns how long before now t was, in docker's wording:
// "3 seconds ago", "About a minute ago", "2 days ago". A t after now gives
// "Less than a second ago", as in docker.
func Ago(t, now time.Time) string {
	return HumanDuration(now.Sub(t)) + " ago"
}
