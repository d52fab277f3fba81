package proxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// h2loadRequests matches h2load's summary of requests.
var h2loadRequests = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)

// runH2load is runWrk for HTTP/2 (t.h2): h2load with as many
// connections and threads as wrk, one stream at a time per connection
// (-m1, as wrk's keep-alive requests), over TLS with ALPN h2. The
// latencies come from its per-request log (h2load prints no
// percentiles).
func runH2load(b *testing.B, h2load string, cfg settings, t target, d time.Duration) result {
	b.Helper()
	logFile := filepath.Join(b.TempDir(), "h2load.log")
	args := []string{"-c", strconv.Itoa(cfg.conns), "-t", strconv.Itoa(cfg.threads), "-m", "1",
		"-D", strconv.Itoa(int(d.Round(time.Second) / time.Second)), "--log-file", logFile}
	if t.auth != "" {
		args = append(args, "-H", "Authorization: "+t.auth)
	}
	args = append(args, t.url)
	cpu0 := procCPU(b, t.pid)
	start := time.Now()
	out, err := exec.Command(h2load, args...).CombinedOutput()
	elapsed := time.Since(start)
	cpu1 := procCPU(b, t.pid)
	if err != nil {
		b.Fatalf("h2load %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m := h2loadRequests.FindStringSubmatch(string(out))
	if m == nil {
		b.Fatalf("h2load %s: no summary\n%s", strings.Join(args, " "), out)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	raw, err := os.ReadFile(logFile)
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	non2xx := 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			continue
		}
		if !strings.HasPrefix(f[1], "2") {
			non2xx++
		}
		us, _ := strconv.ParseInt(f[2], 10, 64)
		lat = append(lat, time.Duration(us)*time.Microsecond)
	}
	if len(lat) == 0 {
		b.Fatalf("h2load %s: no request logged\n%s", strings.Join(args, " "), out)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	// h2load's -D measures for d after the connections are up; the
	// rate is over that window, as its own "req/s".
	window := d
	if window > elapsed {
		window = elapsed
	}
	r := result{
		RPS: float64(len(lat)) / window.Seconds(),
		P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), P999: pct(0.999), Max: lat[len(lat)-1],
		Errors: n(5) + n(6) + n(7), Non2xx: non2xx, Requests: len(lat),
	}
	r.CPUPerReq = (cpu1 - cpu0) / time.Duration(len(lat))
	return r
}

// buildBaseline builds benchingress from the source tree dir (another
// checkout: the "before" of a change) into out/benchingress-before.
func buildBaseline(b *testing.B, dir, out string) string {
	b.Helper()
	bin := filepath.Join(out, "benchingress-before")
	cmd := exec.Command("go", "build", "-o", bin, "./bench/cmd/benchingress")
	cmd.Dir = dir
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build in %s: %v\n%s", dir, err, o)
	}
	return bin
}

// wantVariant reports whether PROXYBENCH_VARIANTS (a comma-separated
// list of unit names: plain, sticky, sticky-cookie, middlewares, TLS,
// TLS-h2) selects unit; all when unset.
func wantVariant(unit string) bool {
	v := os.Getenv("PROXYBENCH_VARIANTS")
	if v == "" {
		return true
	}
	for _, s := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(s), unit) {
			return true
		}
	}
	return false
}

func fmtRatio(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}
