package ingress

import (
	"testing"
	"time"
)

// The per-request cost of the metrics: one observe per entry point,
// router and service.
func BenchmarkReqCounterObserve(b *testing.B) {
	var c reqCounter
	for _, code := range []int{200, 404, 500} {
		c.observe(code, 0, protoHTTP, time.Millisecond)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.observe(200, methodIndex("GET"), protoHTTP, 3*time.Millisecond)
		}
	})
}

// Past maxCells, new combinations are counted under code 0: backends
// cannot grow the series without bound.
func TestReqCounterBounded(t *testing.T) {
	var c reqCounter
	for code := 100; code < 1000; code++ {
		c.observe(code, 9, protoHTTP, time.Millisecond)
	}
	n, overflow := 0, uint64(0)
	c.each(func(x *reqCell) {
		n++
		if x.code == 0 {
			overflow = x.h.snapshot().Count
		}
	})
	if n != maxCells+1 || overflow != 900-maxCells {
		t.Fatalf("%d cells, %d under code 0; want %d and %d", n, overflow, maxCells+1, 900-maxCells)
	}
}
