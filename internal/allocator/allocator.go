// Package allocator is the manager's allocation arithmetic: subnets from
// the cluster's address pools, addresses in a subnet, overlay IDs (VNIs)
// and published ports. Every search starts after a hint (the value handed
// out last) and wraps, as Swarm's IPAM does, so a value just freed is not
// handed out again at once. It knows nothing of the store: internal/state
// calls it inside the Raft FSM's apply with what its tables hold, so every
// replica allocates the same values, atomically with the write that needs
// them.
package allocator

import (
	"errors"
	"fmt"
)

// ErrExhausted is returned when no free value was found. The errors the
// allocator returns say what ran out and are ErrExhausted.
var ErrExhausted = errors.New("exhausted")

// exhausted is an ErrExhausted worded for its case.
type exhausted string

func (e exhausted) Error() string        { return string(e) }
func (e exhausted) Is(target error) bool { return target == ErrExhausted }

func exhaustedf(format string, a ...any) error { return exhausted(fmt.Sprintf(format, a...)) }

// Published ports given to a target-only publish, as Swarm's.
const (
	DynamicPortFirst = 30000
	DynamicPortLast  = 32767
)

// VXLAN network identifiers, as Swarm's overlay driver hands them out: from
// 4097 (0x1001) to the largest 24-bit value.
const (
	VNIFirst = 4097
	VNILast  = 1<<24 - 1
)

// maxVNIProbes bounds the search for a free VNI. Networks are few and VNIs
// are handed out round-robin, so the next one is nearly always free.
const maxVNIProbes = 1 << 16

// next returns the first value in [lo, hi] after hint, wrapping to lo,
// for which taken is false, trying at most limit values (0: the whole
// range). A hint outside the range starts the search at lo.
func next(lo, hi, hint uint64, limit uint64, taken func(uint64) bool) (uint64, error) {
	if lo > hi {
		return 0, ErrExhausted
	}
	size := hi - lo + 1
	if limit == 0 || limit > size {
		limit = size
	}
	v := lo
	if hint >= lo && hint < hi {
		v = hint + 1
	}
	for i := uint64(0); i < limit; i++ {
		if !taken(v) {
			return v, nil
		}
		if v == hi {
			v = lo
		} else {
			v++
		}
	}
	return 0, ErrExhausted
}

// NextPort returns a free published port in 30000-32767, the first after
// hint (the port handed out last).
func NextPort(hint uint32, taken func(uint32) bool) (uint32, error) {
	v, err := next(DynamicPortFirst, DynamicPortLast, uint64(hint), 0, func(v uint64) bool { return taken(uint32(v)) })
	if err != nil {
		return 0, exhaustedf("no free published port in %d-%d", DynamicPortFirst, DynamicPortLast)
	}
	return uint32(v), nil
}

// NextVNI returns a free VXLAN ID, the first after hint.
func NextVNI(hint uint32, taken func(uint32) bool) (uint32, error) {
	v, err := next(VNIFirst, VNILast, uint64(hint), maxVNIProbes, func(v uint64) bool { return taken(uint32(v)) })
	if err != nil {
		return 0, exhaustedf("no free VXLAN ID")
	}
	return uint32(v), nil
}
