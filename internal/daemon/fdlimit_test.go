package daemon

import (
	"io"
	"log/slog"
	"testing"
)

// TestIngressMaxConnsLeavesAReserve: the default ingress and routing mesh
// limits together leave the rest of the process at least fdReserveMin
// descriptors (a quarter of the limit when more), counting a backend
// connection per client one.
func TestIngressMaxConnsLeavesAReserve(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, 0},            // unknown: unbounded
		{100, 16},         // too low to share: the floor
		{256, 32},         // (256-128)/4
		{1024, 192},       // (1024-256)/4
		{1 << 20, 196608}, // (1048576-262144)/4
	} {
		got := defaultIngressMaxConns(tc.limit)
		if got != tc.want {
			t.Errorf("limit %d: %d connections, want %d", tc.limit, got, tc.want)
		}
		// The ingress and the routing mesh, two descriptors a connection.
		if tc.limit >= 256 && tc.limit-uint64(4*got) < fdReserveMin {
			t.Errorf("limit %d: %d connections each for the ingress and the mesh leave %d descriptors, under the reserve %d", tc.limit, got, tc.limit-uint64(4*got), fdReserveMin)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if got := ingressMaxConns(10, 256, quiet); got != 10 {
		t.Errorf("a configured limit became %d, want 10", got)
	}
}

// TestAgentMaxConnsFitsTheReserve: the agent port's default limit is a
// quarter of the reserve the ingress leaves, so both together still leave
// the API and the tasks most of it.
func TestAgentMaxConnsFitsTheReserve(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, 0},           // unknown: unbounded
		{100, 32},        // 128/4
		{1024, 64},       // 256/4
		{1 << 20, 65536}, // 262144/4
	} {
		if got := defaultAgentMaxConns(tc.limit); got != tc.want {
			t.Errorf("limit %d: %d agent-port connections, want %d", tc.limit, got, tc.want)
		}
	}
}
