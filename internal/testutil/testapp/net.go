package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// resolveCmd is `testapp resolve [--wait D] NAME`: it prints NAME's
// addresses, sorted, one a line, and exits 0; or prints the error and
// exits 1. With --wait it tries again until NAME resolves or D has passed
// (a task's networks are plumbed just after it starts).
func resolveCmd(args []string) int {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	wait := fs.Duration("wait", 0, "keep trying this long")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: testapp resolve [--wait D] NAME")
		return 2
	}
	return retry(*wait, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		sort.Strings(addrs)
		fmt.Println(strings.Join(addrs, "\n"))
		return nil
	})
}

// getCmd is `testapp get [--wait D] URL`: it prints the body of a 200
// answer and exits 0, or prints the error or status and exits 1; --wait
// as resolve.
func getCmd(args []string) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	wait := fs.Duration("wait", 0, "keep trying this long")
	timeout := fs.Duration("timeout", 3*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: testapp get [--wait D] [--timeout D] URL")
		return 2
	}
	c := http.Client{Timeout: *timeout}
	return retry(*wait, func() error {
		resp, err := c.Get(fs.Arg(0))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		fmt.Println(string(body))
		return nil
	})
}

// retry runs try until it succeeds or wait has passed, and returns the
// exit code.
func retry(wait time.Duration, try func() error) int {
	deadline := time.Now().Add(wait)
	for {
		err := try()
		if err == nil {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Println(err)
			return 1
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// callHandler is /call?url=U: it GETs U and answers with its status and
// body, or 502 and the error.
func callHandler(w http.ResponseWriter, r *http.Request) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(r.URL.Query().Get("url"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<16))
}
