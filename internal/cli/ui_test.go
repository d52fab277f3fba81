package cli

import (
	"strings"
	"testing"
)

// shoal ui url asks the API socket's manager; one without --ui says so.
func TestUIURLWithoutDashboard(t *testing.T) {
	r := shoal(t, "ui", "url")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "serves no dashboard: start it with --ui ADDR") {
		t.Fatalf("ui url without a dashboard: %s", r)
	}
}
