package testutil

import (
	"os"
	"testing"
)

// RequireRoot skips the test when the process is not root (network
// namespaces, links and rules need it), or fails it when
// SHOAL_REQUIRE_DOCKER=1, as RequireDocker does.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatalf("not root (%s=1): this test needs root", EnvRequireDocker)
		}
		t.Skip("not root: this test needs root")
	}
}
