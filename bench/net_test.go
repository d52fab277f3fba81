package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/bench/netperf"
)

// netPath is one way from a netperf client to a netperf server.
type netPath struct {
	key, what string
	// from is the container the client runs in; addr is where it dials.
	from, addr string
}

// netResult is what `netperf run` prints.
type netResult struct {
	RR   netperf.RRResult   `json:"rr"`
	Bulk netperf.BulkResult `json:"bulk"`
}

// Keys of the paths the ratios are taken against.
const (
	netBaseline  = "loopback"
	netReference = "docker-bridge"
)

// BenchmarkNetPaths measures, in one run and with the same program at both
// ends (bench/cmd/netperf in a scratch image), one-byte round trips and
// bulk throughput over every path a shoal task's traffic takes on one node,
// against a direct connection on the same machine (loopback, two
// processes in one container), Docker's own user-defined bridge between
// two containers and, for the routing mesh, Docker's userland proxy.
// Each b.Loop iteration is one round over all the paths, in a rotating
// order; the table gives each path's median over the rounds and its
// ratios. Needs root and Docker. NETBENCH_TIME sets how long each test
// runs (default 2s):
//
//	go test -run xxx -bench NetPaths -benchtime=3x ./bench/
func BenchmarkNetPaths(b *testing.B) {
	d := 2 * time.Second
	if v := os.Getenv("NETBENCH_TIME"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			b.Fatalf("NETBENCH_TIME=%q: want a positive duration", v)
		}
	}
	paths, dc := setupNetPaths(b)
	results := map[string][]netResult{}
	round := 0
	for b.Loop() {
		for i := range paths {
			p := paths[(i+round)%len(paths)]
			out := dockerExec(b, dc, 2*d+2*time.Minute, p.from, "/app", "run", "--addr", p.addr, "--time", d.String())
			var r netResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				b.Fatalf("%s: netperf run printed %q: %v", p.key, out, err)
			}
			results[p.key] = append(results[p.key], r)
		}
		round++
	}
	b.StopTimer()
	med := map[string]netResult{}
	for _, p := range paths {
		med[p.key] = medianResult(results[p.key])
	}
	fmt.Print(netTable(paths, med, results, round, d))
	base, ref := med[netBaseline], med[netReference]
	// The routing mesh against its userspace peer, Docker's own proxy.
	mesh, proxy := med["mesh"], med["docker-proxy"]
	fmt.Printf("\nrouting mesh ÷ docker-proxy: round trips/s %.2f, p50 %.2f, bulk %.2f\n",
		mesh.RR.PerSecond/proxy.RR.PerSecond, mesh.RR.P50US/proxy.RR.P50US, mesh.Bulk.MBPerS/proxy.Bulk.MBPerS)
	b.ReportMetric(mesh.RR.PerSecond/proxy.RR.PerSecond, "mesh/docker-proxy-rr")
	b.ReportMetric(mesh.Bulk.MBPerS/proxy.Bulk.MBPerS, "mesh/docker-proxy-MB/s")
	for _, p := range paths {
		m := med[p.key]
		b.ReportMetric(m.RR.PerSecond/ref.RR.PerSecond, p.key+"/bridge-rr")
		b.ReportMetric(m.Bulk.MBPerS/ref.Bulk.MBPerS, p.key+"/bridge-MB/s")
		b.ReportMetric(m.RR.P50US-base.RR.P50US, p.key+"-added-p50-µs")
	}
}

// medianResult is the round-trip figures of the round with the median
// round trips/s (so they stay consistent with each other), and the median
// bulk throughput.
func medianResult(rs []netResult) netResult {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b netResult) int { return cmp.Compare(a.RR.PerSecond, b.RR.PerSecond) })
	m := netResult{RR: rs[len(rs)/2].RR}
	slices.SortFunc(rs, func(a, b netResult) int { return cmp.Compare(a.Bulk.MBPerS, b.Bulk.MBPerS) })
	m.Bulk = rs[len(rs)/2].Bulk
	return m
}

// netTable is the markdown table of the medians and their ratios to the
// baseline and to Docker's bridge.
func netTable(paths []netPath, med map[string]netResult, all map[string][]netResult, rounds int, d time.Duration) string {
	var s strings.Builder
	base, ref := med[netBaseline], med[netReference]
	fmt.Fprintf(&s, "\nnetworking paths: median of %d round(s), each test %s; ratios to %s and to %s\n\n", rounds, d, netBaseline, netReference)
	s.WriteString("| path | round trips/s | mean | p50 | p99 | p50 added to loopback | RR ÷ loopback | RR ÷ bridge | bulk MB/s | bulk ÷ loopback | bulk ÷ bridge |\n")
	s.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range paths {
		m := med[p.key]
		fmt.Fprintf(&s, "| %s | %.0f | %.1f µs | %.1f µs | %.1f µs | %+.1f µs | %.2f | %.2f | %.0f | %.2f | %.2f |\n",
			p.what, m.RR.PerSecond, m.RR.MeanUS, m.RR.P50US, m.RR.P99US, m.RR.P50US-base.RR.P50US,
			m.RR.PerSecond/base.RR.PerSecond, m.RR.PerSecond/ref.RR.PerSecond,
			m.Bulk.MBPerS, m.Bulk.MBPerS/base.Bulk.MBPerS, m.Bulk.MBPerS/ref.Bulk.MBPerS)
	}
	s.WriteString("\n| path | round trips/s per round | bulk MB/s per round |\n|---|---|---|\n")
	for _, p := range paths {
		var rr, bulk []string
		for _, r := range all[p.key] {
			rr = append(rr, fmt.Sprintf("%.0f", r.RR.PerSecond))
			bulk = append(bulk, fmt.Sprintf("%.0f", r.Bulk.MBPerS))
		}
		fmt.Fprintf(&s, "| %s | %s | %s |\n", p.key, strings.Join(rr, " / "), strings.Join(bulk, " / "))
	}
	return s.String()
}
