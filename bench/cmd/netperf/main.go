// Command netperf is both ends of the networking benchmark
// (bench/net_test.go), built into a scratch image:
//
//	netperf serve [--listen :5201]     answer the tests (bench/netperf)
//	netperf idle                       wait, to be exec'd into
//	netperf run --addr HOST:PORT [--time 2s] [--wait 15s]
//
// run measures round trips, then bulk throughput, to HOST:PORT, each for
// --time, and prints them as one JSON object: {"rr": …, "bulk": …}. It
// first tries the address until a connection opens or --wait has passed
// (a task's DNS name and virtual IP are plumbed just after it starts).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalproject/shoal/bench/netperf"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "idle":
		<-ctx.Done()
	case "run":
		err = run(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netperf:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: netperf serve [--listen ADDR] | idle | run --addr HOST:PORT [--time D] [--wait D]")
	os.Exit(2)
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", ":5201", "address to listen on")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	return netperf.Serve(ctx, ln, netperf.Options{})
}

// result is what run prints.
type result struct {
	RR   netperf.RRResult   `json:"rr"`
	Bulk netperf.BulkResult `json:"bulk"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	addr := fs.String("addr", "", "HOST:PORT of a netperf server")
	d := fs.Duration("time", 2*time.Second, "how long each test runs")
	wait := fs.Duration("wait", 15*time.Second, "keep trying to connect this long")
	fs.Parse(args)
	if *addr == "" || *d <= 0 || *d > 10*time.Minute {
		return fmt.Errorf("want --addr and a --time between 0 and 10m")
	}
	if err := waitConnect(ctx, *addr, *wait); err != nil {
		return err
	}
	var dialer net.Dialer
	var res result
	var err error
	if res.RR, err = netperf.RR(ctx, dialer.DialContext, *addr, *d); err != nil {
		return err
	}
	if res.Bulk, err = netperf.Bulk(ctx, dialer.DialContext, *addr, *d); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// waitConnect tries addr until a connection opens (closed at once) or
// wait has passed.
func waitConnect(ctx context.Context, addr string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var dialer net.Dialer
	for {
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect %s: %w", addr, err)
		case <-tick.C:
		}
	}
}
