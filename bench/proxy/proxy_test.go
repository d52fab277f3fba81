// Package proxy compares shoal's ingress with HAProxy on the same host:
// two identical backends, both proxies in front of them, and wrk as the
// load generator, every address on 127.0.0.1.
//
//	go test -run xxx -bench Proxy -benchtime=1x ./bench/proxy/
//
// The benchmark builds bench/cmd/benchbackend and bench/cmd/benchingress
// and runs every party as its own process: two backends, one shoal
// ingress per variant (plain and sticky, a Table fed with Table.Reset),
// one HAProxy with a frontend per variant, and wrk. It skips when haproxy
// or wrk is not installed (apt-get install -y haproxy wrk).
//
// Scenarios, each a closed-loop wrk run (-t2 -c32 -d5s by default) of
// small keep-alive GETs:
//
//   - direct: wrk to one backend, the floor without a proxy;
//   - plain: least-outstanding (shoal) / leastconn (HAProxy) over both
//     backends;
//   - sticky: sticky cookies on, but wrk keeps no cookie, so every
//     response carries a Set-Cookie;
//   - sticky+cookie: wrk sends a valid cookie on every request (one
//     obtained first with a plain GET), so the persistence lookup is
//     measured and no Set-Cookie is sent;
//   - middlewares: basicauth, one request header set and the /app prefix
//     stripped (HAProxy: http-request auth, set-header, set-path);
//   - TLS: plain over HTTPS, HTTP/1.1 (wrk has no HTTP/2).
//
// Shoal and HAProxy alternate within each round, and which goes first
// alternates from round to round. The table gives the medians of the
// rounds, and the ratios shoal/HAProxy.
//
// Environment: PROXYBENCH_DURATION (a Go duration, default 5s),
// PROXYBENCH_CONNS (default 32), PROXYBENCH_THREADS (default 2),
// PROXYBENCH_ROUNDS (default 3), and PROXYBENCH_PPROF=DIR to write CPU
// profiles of the shoal ingress under load (plain and sticky+cookie) to
// DIR after the rounds.
package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Targets of the ratios: shoal's requests/s at least 0.70 of HAProxy's,
// its p99 at most twice HAProxy's.
const (
	targetRPSRatio = 0.70
	targetP99Ratio = 2.0
)

// settings are the load parameters, from the environment.
type settings struct {
	duration time.Duration
	conns    int
	threads  int
	rounds   int
	pprofDir string
}

func loadSettings(b *testing.B) settings {
	s := settings{duration: 5 * time.Second, conns: 32, threads: 2, rounds: 3, pprofDir: os.Getenv("PROXYBENCH_PPROF")}
	if v := os.Getenv("PROXYBENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			b.Fatalf("PROXYBENCH_DURATION=%q: want a duration of 1s or more", v)
		}
		s.duration = d
	}
	for _, kv := range []struct {
		name string
		dst  *int
	}{{"PROXYBENCH_CONNS", &s.conns}, {"PROXYBENCH_THREADS", &s.threads}, {"PROXYBENCH_ROUNDS", &s.rounds}} {
		if v := os.Getenv(kv.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				b.Fatalf("%s=%q: want a positive integer", kv.name, v)
			}
			*kv.dst = n
		}
	}
	if s.conns < s.threads {
		s.threads = s.conns
	}
	return s
}

// target is one address wrk loads, with the process whose CPU time is
// counted for it.
type target struct {
	name   string // "direct", "haproxy", "shoal"
	url    string
	cookie string // sent as a Cookie header when set
	auth   string // sent as an Authorization header when set
	pid    int
	h2     bool // HTTP/2 over TLS, loaded by h2load
}

// result is one wrk run.
type result struct {
	RPS                 float64
	P50, P90, P99, P999 time.Duration
	Max                 time.Duration
	Errors, Non2xx      int
	CPUPerReq           time.Duration // of target.pid
	Requests            int
}

// wrkReport is what wrkScript prints.
type wrkReport struct {
	Requests   float64 `json:"requests"`
	DurationUS float64 `json:"duration_us"`
	Connect    int     `json:"connect"`
	Read       int     `json:"read"`
	Write      int     `json:"write"`
	Status     int     `json:"status"`
	Timeout    int     `json:"timeout"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p999"`
	Max        float64 `json:"max"`
}

// wrkScript makes wrk print its summary as one JSON line (latencies in
// microseconds), with p99.9, which --latency does not show.
const wrkScript = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('PROXYBENCH {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f,"max":%.0f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
`

// BenchmarkProxy runs the comparison; see the package comment.
func BenchmarkProxy(b *testing.B) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		b.Skip("haproxy not found: install it (Debian: apt-get install -y haproxy)")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk not found: install it (Debian: apt-get install -y wrk)")
	}
	h2load, _ := exec.LookPath("h2load") // optional: the HTTP/2 variant
	cfg := loadSettings(b)
	dir := b.TempDir()
	bins := buildTools(b, dir)
	if base := os.Getenv("PROXYBENCH_BASELINE"); base != "" {
		bins["benchingress-before"] = buildBaseline(b, base, dir)
	}
	script := filepath.Join(dir, "report.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		b.Fatal(err)
	}

	// Two identical backends.
	be1 := startProc(b, "backend s1", bins["benchbackend"], "--name", "s1")
	be2 := startProc(b, "backend s2", bins["benchbackend"], "--name", "s2")
	backends := be1.addr + "," + be2.addr

	// Shoal: one ingress process per variant.
	shoalArgs := func(sticky bool, extra ...string) []string {
		a := append([]string{"--backends", backends}, extra...)
		if sticky {
			a = append(a, "--sticky")
		}
		if cfg.pprofDir != "" {
			a = append(a, "--pprof", "127.0.0.1:0")
		}
		return a
	}
	shoalPlain := startProc(b, "shoal ingress", bins["benchingress"], shoalArgs(false)...)
	shoalSticky := startProc(b, "shoal ingress (sticky)", bins["benchingress"], shoalArgs(true)...)
	certFile := writeBenchCert(b, dir)
	shoalMW := startProc(b, "shoal ingress (middlewares)", bins["benchingress"], shoalArgs(false, "--middlewares")...)
	shoalTLS := startProc(b, "shoal ingress (TLS)", bins["benchingress"], shoalArgs(false, "--tls", certFile)...)
	// The baseline's (PROXYBENCH_BASELINE), for the variants it changed.
	var before map[string]*proc
	if bin := bins["benchingress-before"]; bin != "" {
		before = map[string]*proc{
			"plain":       startProc(b, "shoal ingress before (plain)", bin, shoalArgs(false)...),
			"middlewares": startProc(b, "shoal ingress before (middlewares)", bin, shoalArgs(false, "--middlewares")...),
			"TLS":         startProc(b, "shoal ingress before (TLS)", bin, shoalArgs(false, "--tls", certFile)...),
		}
	}

	// HAProxy: one process, a frontend per variant.
	fe := haFrontends{plain: freePort(b), sticky: freePort(b), mw: freePort(b), tls: freePort(b), cert: certFile}
	hcfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hcfg, []byte(haproxyConfig(fe, be1.addr, be2.addr)), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-q", "-f", hcfg).CombinedOutput(); err != nil {
		b.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	hp := startHAProxy(b, haproxy, hcfg, fe.plain, fe.sticky, fe.mw, fe.tls)
	hpPlain, hpSticky := fe.plain, fe.sticky

	url := func(addr string) string { return "http://" + addr + "/" }
	direct := target{name: "direct", url: url(be1.addr), pid: be1.pid()}
	hapPlain := target{name: "haproxy", url: url(hpPlain), pid: hp.pid()}
	hapSticky := target{name: "haproxy", url: url(hpSticky), pid: hp.pid()}
	shPlain := target{name: "shoal", url: url(shoalPlain.addr), pid: shoalPlain.pid()}
	shSticky := target{name: "shoal", url: url(shoalSticky.addr), pid: shoalSticky.pid()}
	hapMW := target{name: "haproxy", url: "http://" + fe.mw + "/app/", auth: benchAuth, pid: hp.pid()}
	shMW := target{name: "shoal", url: "http://" + shoalMW.addr + "/app/", auth: benchAuth, pid: shoalMW.pid()}
	hapTLS := target{name: "haproxy", url: "https://" + fe.tls + "/", pid: hp.pid()}
	shTLS := target{name: "shoal", url: "https://" + shoalTLS.addr + "/", pid: shoalTLS.pid()}
	hapH2, shH2 := hapTLS, shTLS
	hapH2.h2, shH2.h2 = true, true
	var bePlain, beMW, beTLS, beH2 target
	if before != nil {
		bePlain = target{name: "shoal-before", url: url(before["plain"].addr), pid: before["plain"].pid()}
		beMW = target{name: "shoal-before", url: "http://" + before["middlewares"].addr + "/app/", auth: benchAuth, pid: before["middlewares"].pid()}
		beTLS = target{name: "shoal-before", url: "https://" + before["TLS"].addr + "/", pid: before["TLS"].pid()}
		beH2 = beTLS
		beH2.h2 = true
	}

	// Check every path, and get one valid sticky cookie from each proxy.
	checkBalanced(b, direct.url, 1)
	checkBalanced(b, hapPlain.url, 2)
	checkBalanced(b, shPlain.url, 2)
	for _, t := range []target{hapMW, shMW, hapTLS, shTLS} {
		checkBalanced(b, t.url, 2, "Authorization", t.auth)
	}
	checkAuth(b, hapMW.url)
	checkAuth(b, shMW.url)
	if before != nil {
		checkBalanced(b, bePlain.url, 2)
		checkBalanced(b, beMW.url, 2, "Authorization", beMW.auth)
		checkBalanced(b, beTLS.url, 2)
		checkAuth(b, beMW.url)
	}
	hapCookie := stickyCookie(b, hapSticky.url, "SERVERID")
	shoalCookie := stickyCookie(b, shSticky.url, shoalSticky.info["cookie"])
	hapStickyC, shStickyC := hapSticky, shSticky
	hapStickyC.cookie, shStickyC.cookie = hapCookie, shoalCookie

	type variant struct {
		name                   string
		haproxy, shoal, before target // before.pid 0: no baseline
	}
	unitOf := strings.NewReplacer(" (no cookie kept)", "", " + valid cookie", "-cookie", " (HTTP/1.1)", "", " (HTTP/2)", "-h2").Replace
	var variants []variant
	for _, v := range []variant{
		{"plain", hapPlain, shPlain, bePlain},
		{"sticky (no cookie kept)", hapSticky, shSticky, target{}},
		{"sticky + valid cookie", hapStickyC, shStickyC, target{}},
		{"middlewares", hapMW, shMW, beMW},
		{"TLS (HTTP/1.1)", hapTLS, shTLS, beTLS},
		{"TLS (HTTP/2)", hapH2, shH2, beH2},
	} {
		if v.haproxy.h2 && h2load == "" {
			fmt.Fprintln(os.Stderr, "h2load not found: HTTP/2 not measured (Debian: apt-get install -y nghttp2-client)")
			continue
		}
		if wantVariant(unitOf(v.name)) {
			variants = append(variants, v)
		}
	}

	run := func(t target, d time.Duration) result {
		if t.h2 {
			return runH2load(b, h2load, cfg, t, d)
		}
		return runWrk(b, wrk, script, cfg, t, d)
	}

	// Warm up every target: connections to the backends, goroutines,
	// page cache.
	run(direct, time.Second)
	for _, v := range variants {
		for _, t := range []target{v.haproxy, v.shoal, v.before} {
			if t.pid != 0 {
				run(t, time.Second)
			}
		}
	}

	// The A/B rounds.
	type key struct{ variant, target string }
	samples := map[key][]result{}
	rounds := cfg.rounds * b.N
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		samples[key{"direct", "direct"}] = append(samples[key{"direct", "direct"}], run(direct, cfg.duration))
		for vi, v := range variants {
			order := []target{v.haproxy, v.shoal}
			if v.before.pid != 0 {
				order = append(order, v.before)
			}
			// Each target in turn goes first.
			k := (r + vi) % len(order)
			order = append(order[k:], order[:k]...)
			for _, t := range order {
				res := run(t, cfg.duration)
				samples[key{v.name, t.name}] = append(samples[key{v.name, t.name}], res)
			}
		}
	}
	b.StopTimer()

	// Report.
	w := os.Stdout
	fmt.Fprintf(w, "\nIngress vs HAProxy: wrk -t%d -c%d -d%s, %d rounds, GOMAXPROCS=%d on %d CPUs, %s\n",
		cfg.threads, cfg.conns, cfg.duration, rounds, runtime.GOMAXPROCS(0), runtime.NumCPU(), time.Now().Format("2006-01-02"))
	fmt.Fprintf(w, "\n| variant | target | req/s (median) | req/s per round | p50 | p90 | p99 | p99.9 | CPU/req | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(vname, tname string) result {
		rs := samples[key{vname, tname}]
		m := medianResult(rs)
		var per []string
		errs := 0
		for _, r := range rs {
			per = append(per, fmt.Sprintf("%.0f", r.RPS))
			errs += r.Errors + r.Non2xx
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %d |\n",
			vname, tname, m.RPS, strings.Join(per, " / "), fmtDur(m.P50), fmtDur(m.P90), fmtDur(m.P99), fmtDur(m.P999), fmtDur(m.CPUPerReq), errs)
		if errs > 0 {
			b.Errorf("%s %s: %d failed or non-2xx responses", vname, tname, errs)
		}
		return m
	}
	row("direct", "direct")
	type ratio struct {
		name                string
		rps, p99            float64
		rpsOK, p99OK        bool
		beforeRPS, before99 float64 // the baseline's ratios, 0 without
	}
	var ratios []ratio
	for _, v := range variants {
		h := row(v.name, "haproxy")
		s := row(v.name, "shoal")
		rr := s.RPS / h.RPS
		pr := float64(s.P99) / float64(h.P99)
		rt := ratio{name: v.name, rps: rr, p99: pr, rpsOK: rr >= targetRPSRatio, p99OK: pr <= targetP99Ratio}
		if v.before.pid != 0 {
			bf := row(v.name, "shoal-before")
			rt.beforeRPS, rt.before99 = bf.RPS/h.RPS, float64(bf.P99)/float64(h.P99)
		}
		ratios = append(ratios, rt)
	}
	fmt.Fprintf(w, "\n| variant | shoal/HAProxy req/s (target ≥ %.2f) | shoal/HAProxy p99 (target ≤ %.1f) | before: req/s | before: p99 |\n|---|---|---|---|---|\n", targetRPSRatio, targetP99Ratio)
	for _, r := range ratios {
		fmt.Fprintf(w, "| %s | %.2f %s | %.2f %s | %s | %s |\n", r.name, r.rps, mark(r.rpsOK), r.p99, mark(r.p99OK), fmtRatio(r.beforeRPS), fmtRatio(r.before99))
		unit := unitOf(r.name)
		b.ReportMetric(r.rps, "rps-ratio-"+unit)
		b.ReportMetric(r.p99, "p99-ratio-"+unit)
	}
	fmt.Fprintf(w, "\nResident memory after the rounds: shoal %s (plain), %s (sticky), %s (middlewares), %s (TLS); HAProxy %s (every frontend); backend %s.\n\n",
		rss(shoalPlain.pid()), rss(shoalSticky.pid()), rss(shoalMW.pid()), rss(shoalTLS.pid()), rss(hp.pid()), rss(be1.pid()))

	if cfg.pprofDir != "" {
		profileShoal(b, wrk, script, cfg, map[string]profTarget{
			"plain":         {shPlain, shoalPlain.info["pprof"]},
			"sticky-cookie": {shStickyC, shoalSticky.info["pprof"]},
		})
	}
}

func mark(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(missed)"
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
}

// medianResult takes the median of each figure separately.
func medianResult(rs []result) result {
	med := func(f func(result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		slices.Sort(xs)
		n := len(xs)
		if n%2 == 1 {
			return xs[n/2]
		}
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	d := func(f func(result) time.Duration) time.Duration {
		return time.Duration(med(func(r result) float64 { return float64(f(r)) }))
	}
	return result{
		RPS:       med(func(r result) float64 { return r.RPS }),
		P50:       d(func(r result) time.Duration { return r.P50 }),
		P90:       d(func(r result) time.Duration { return r.P90 }),
		P99:       d(func(r result) time.Duration { return r.P99 }),
		P999:      d(func(r result) time.Duration { return r.P999 }),
		Max:       d(func(r result) time.Duration { return r.Max }),
		CPUPerReq: d(func(r result) time.Duration { return r.CPUPerReq }),
	}
}

// runWrk loads t for d and returns wrk's figures and the CPU time t.pid
// used per request.
func runWrk(b *testing.B, wrk, script string, cfg settings, t target, d time.Duration) result {
	b.Helper()
	args := []string{"-t", strconv.Itoa(cfg.threads), "-c", strconv.Itoa(cfg.conns), "-d", fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second)),
		"--timeout", "5s", "-s", script}
	if t.cookie != "" {
		args = append(args, "-H", "Cookie: "+t.cookie)
	}
	if t.auth != "" {
		args = append(args, "-H", "Authorization: "+t.auth)
	}
	args = append(args, t.url)
	cpu0 := procCPU(b, t.pid)
	out, err := exec.Command(wrk, args...).CombinedOutput()
	cpu1 := procCPU(b, t.pid)
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var rep wrkReport
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "PROXYBENCH "); ok {
			if err := json.Unmarshal([]byte(j), &rep); err != nil {
				b.Fatalf("wrk report %q: %v", j, err)
			}
			found = true
		}
	}
	if !found || rep.Requests == 0 || rep.DurationUS == 0 {
		b.Fatalf("wrk %s: no report\n%s", strings.Join(args, " "), out)
	}
	us := func(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
	r := result{
		RPS: rep.Requests / (rep.DurationUS / 1e6),
		P50: us(rep.P50), P90: us(rep.P90), P99: us(rep.P99), P999: us(rep.P999), Max: us(rep.Max),
		Errors:   rep.Connect + rep.Read + rep.Write + rep.Timeout,
		Non2xx:   rep.Status,
		Requests: int(rep.Requests),
	}
	r.CPUPerReq = (cpu1 - cpu0) / time.Duration(rep.Requests)
	return r
}

// procCPU returns the user+system CPU time of process pid (all threads).
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("CPU time of pid %d: %v", pid, err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / time.Duration(clockTicks())
}

// rss returns the resident memory of process pid, "12.3 MiB".
func rss(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return "?"
			}
			return fmt.Sprintf("%.1f MiB", kb/1024)
		}
	}
	return "?"
}

var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
})

// haFrontends are the addresses of HAProxy's frontends, one per variant,
// and the PEM file (certificate and key) of the TLS one.
type haFrontends struct{ plain, sticky, mw, tls, cert string }

// haproxyConfig is HAProxy configured as the shoal ingress is: HTTP mode,
// keep-alive on both sides, two servers, least connections (the nearest
// to shoal's least-outstanding-requests pick), X-Forwarded-For added
// (shoal sets X-Forwarded-*), and, on the sticky frontend, an inserted
// cookie as Traefik's sticky.cookie. The middlewares frontend does what
// benchingress --middlewares does: basic auth against a user list (a
// plain-text password: shoal's is a {SHA} hash, a microsecond), one
// request header set, and the /app prefix stripped (http-request
// set-path); the TLS one terminates TLS 1.2+ with ALPN h2 and http/1.1.
func haproxyConfig(fe haFrontends, s1, s2 string) string {
	return fmt.Sprintf(`global
    nbthread %d
    maxconn 4096
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 180s
    timeout http-request 10s

userlist bench_users
    user admin insecure-password password

frontend fe_plain
    bind %s
    default_backend be_plain

frontend fe_sticky
    bind %s
    default_backend be_sticky

frontend fe_mw
    bind %s
    http-request auth realm traefik unless { http_auth(bench_users) }
    http-request set-header X-Bench yes
    http-request set-path %%[path,regsub(^/app/,/)]
    default_backend be_plain

frontend fe_tls
    bind %s ssl crt %s alpn h2,http/1.1
    default_backend be_plain

backend be_plain
    balance leastconn
    server s1 %s
    server s2 %s

backend be_sticky
    balance leastconn
    cookie SERVERID insert indirect nocache
    server s1 %s cookie s1
    server s2 %s cookie s2
`, runtime.GOMAXPROCS(0), fe.plain, fe.sticky, fe.mw, fe.tls, fe.cert, s1, s2, s1, s2)
}

// proc is a child process of the benchmark.
type proc struct {
	cmd  *exec.Cmd
	addr string            // from "listening on ADDR"
	info map[string]string // other "KEY VALUE" lines before it
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// startProc runs bin and waits for its "listening on ADDR" line; it is
// stopped (SIGTERM, then SIGKILL) when the benchmark ends.
func startProc(b *testing.B, name, bin string, args ...string) *proc {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout = pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		stdout.Close()
		b.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, info: map[string]string{}}
	done := waitChan(cmd)
	b.Cleanup(func() { stop(cmd, done) })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "listening on "); ok {
				p.addr = a
				ready <- nil
				break
			}
			if k, v, ok := strings.Cut(line, " "); ok {
				p.info[k] = strings.TrimPrefix(v, "on ")
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		stdout.Close()
		select {
		case ready <- errors.New("exited before listening"):
		default:
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
	case <-time.After(10 * time.Second):
		b.Fatalf("%s: not listening after 10s", name)
	}
	return p
}

// startHAProxy runs haproxy in the foreground and waits until both
// frontends accept connections.
func startHAProxy(b *testing.B, haproxy, cfg string, addrs ...string) *proc {
	b.Helper()
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start haproxy: %v", err)
	}
	done := waitChan(cmd)
	b.Cleanup(func() { stop(cmd, done) })
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				b.Fatalf("haproxy exited: %v", cmd.ProcessState)
			default:
			}
			if time.Now().After(deadline) {
				b.Fatalf("haproxy: %s not accepting after 10s: %v", a, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return &proc{cmd: cmd, addr: addrs[0]}
}

// waitChan waits for cmd in the background; the channel closes when it
// has exited.
func waitChan(cmd *exec.Cmd) <-chan struct{} {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done
}

// stop ends cmd: SIGTERM, then SIGKILL after 5s.
func stop(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// freePort returns a 127.0.0.1 address that was free a moment ago.
func freePort(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// httpc trusts any certificate: the TLS variant's is made for the run.
var httpc = &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}

// get GETs url with the cookie and the headers hdr (name, value, …;
// empty values left out).
func get(b *testing.B, url, cookie string, hdr ...string) (*http.Response, string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := httpc.Do(req)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || len(body) != 100 {
		b.Fatalf("GET %s: status %d, %d-byte body, want 200 and the backend's 100 bytes", url, resp.StatusCode, len(body))
	}
	return resp, string(body)
}

// checkBalanced checks that url answers and that successive requests
// reach want distinct backends.
func checkBalanced(b *testing.B, url string, want int, hdr ...string) {
	b.Helper()
	seen := map[string]bool{}
	for range 20 {
		resp, _ := get(b, url, "", hdr...)
		seen[resp.Header.Get("X-Backend")] = true
	}
	if len(seen) != want {
		b.Fatalf("GET %s: reached backends %v, want %d distinct", url, seen, want)
	}
}

// stickyCookie returns "NAME=VALUE" from the sticky Set-Cookie of url, and
// checks that sending it back pins every request to one backend and sets
// no new cookie.
func stickyCookie(b *testing.B, url, name string) string {
	b.Helper()
	resp, _ := get(b, url, "")
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == name {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		b.Fatalf("GET %s: no %s cookie in %q", url, name, resp.Header.Values("Set-Cookie"))
	}
	pinned := resp.Header.Get("X-Backend")
	for range 10 {
		r, _ := get(b, url, cookie)
		if got := r.Header.Get("X-Backend"); got != pinned || len(r.Header.Values("Set-Cookie")) != 0 {
			b.Fatalf("GET %s with %s: backend %s (want %s), Set-Cookie %q (want none)", url, cookie, got, pinned, r.Header.Values("Set-Cookie"))
		}
	}
	return cookie
}

// buildTools builds the benchmark's programs into dir.
func buildTools(b *testing.B, dir string) map[string]string {
	b.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := map[string]string{}
	var pkgs []string
	for _, name := range []string{"benchbackend", "benchingress"} {
		pkgs = append(pkgs, "github.com/shoalproject/shoal/bench/cmd/"+name)
		out[name] = filepath.Join(dir, name)
	}
	cmd := exec.Command(goBin, append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, o)
	}
	return out
}

type profTarget struct {
	t         target
	pprofAddr string
}

// profileShoal takes a CPU profile of each shoal ingress under the same
// wrk load as the rounds and writes it to cfg.pprofDir/shoal-NAME.pprof.
func profileShoal(b *testing.B, wrk, script string, cfg settings, targets map[string]profTarget) {
	b.Helper()
	if err := os.MkdirAll(cfg.pprofDir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, pt := range targets {
		secs := int(cfg.duration/time.Second) - 1
		if secs < 1 {
			secs = 1
		}
		var wg sync.WaitGroup
		var perr error
		path := filepath.Join(cfg.pprofDir, "shoal-"+name+".pprof")
		wg.Go(func() {
			time.Sleep(500 * time.Millisecond) // past wrk's connection set-up
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+10)*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pt.pprofAddr, secs), nil)
			resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
			if err != nil {
				perr = err
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				perr = err
				return
			}
			perr = os.WriteFile(path, data, 0o644)
		})
		res := runWrk(b, wrk, script, cfg, pt.t, cfg.duration)
		wg.Wait()
		if perr != nil {
			b.Fatalf("profile %s: %v", name, perr)
		}
		fmt.Printf("profile of shoal %s (%.0f req/s while profiled): %s\n", name, res.RPS, path)
	}
}
