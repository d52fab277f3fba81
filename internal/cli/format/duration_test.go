package format

import (
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "Less than a second"},
		{0, "Less than a second"},
		{999 * time.Millisecond, "Less than a second"},
		{time.Second, "1 second"},
		{2 * time.Second, "2 seconds"},
		{59 * time.Second, "59 seconds"},
		{60 * time.Second, "About a minute"},
		{119 * time.Second, "About a minute"},
		{2 * time.Minute, "2 minutes"},
		{59 * time.Minute, "59 minutes"},
		{60 * time.Minute, "About an hour"},
		{89 * time.Minute, "About an hour"},
		{90 * time.Minute, "2 hours"},
		{47 * time.Hour, "47 hours"},
		{48 * time.Hour, "2 days"},
		{13 * day, "13 days"},
		{14 * day, "2 weeks"},
		{59 * day, "8 weeks"},
		{60 * day, "2 months"},
		{729 * day, "24 months"},
		{730 * day, "2 years"},
		{3 * 365 * day, "3 years"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{now.Add(-3 * time.Second), "3 seconds ago"},
		{now.Add(-70 * time.Second), "About a minute ago"},
		{now.Add(-5 * time.Hour), "5 hours ago"},
		{now, "Less than a second ago"},
		{now.Add(time.Minute), "Less than a second ago"},
	}
	for _, tt := range tests {
		if got := Ago(tt.t, now); got != tt.want {
			t.Errorf("Ago(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
