package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("5s", "1m30s"). A plain number is read as nanoseconds, as the
// Docker API writes durations.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of nanoseconds; null
// is a no-op.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		// As encoding/json does for other types, null leaves d unchanged.
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s: want a string such as \"5s\"", b)
	}
	*d = Duration(n)
	return nil
}

// DurationPtr returns a pointer to d, for optional spec fields.
func DurationPtr(d time.Duration) *Duration { v := Duration(d); return &v }
