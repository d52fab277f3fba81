package daemon

import "testing"

// The mesh's default cap leaves the reserve and the ingress's half of the
// descriptors alone: two descriptors per connection, half of what the
// reserve leaves.
func TestPublishMaxConnsSharesTheDescriptorBudget(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, 0},            // unknown: unbounded
		{100, 16},         // too low to share: the floor
		{1024, 192},       // reserve 256: (1024-256)/4
		{1 << 20, 196608}, // reserve a quarter: 3/16 of the limit
	} {
		got := proxyShare(tc.limit)
		if got != tc.want {
			t.Errorf("limit %d: %d, want %d", tc.limit, got, tc.want)
		}
		if tc.limit > 1024 && uint64(2*got) > (tc.limit-max(128, tc.limit/4))/2 {
			t.Errorf("limit %d: %d connections take more than half of the descriptors the reserve leaves", tc.limit, got)
		}
	}
}
