package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// loadCmd is `testapp load [--for D] [--workers N] [--stdin] URL`: each
// worker GETs URL again and again for D (or, with --stdin, until stdin
// ends if that comes first), on a new connection each time so a virtual
// IP chooses a task for every request. It prints "started" on the first
// answer, and at the end "ok=N failed=M" and up to 10 of the errors, one
// a line, and exits 0. A request fails on
// any error or an answer other than 200. With --log it also prints, for
// each request, when it started (Unix nanoseconds) and the taskID of the
// answer ("-" if it failed): which task each new connection reached.
func loadCmd(args []string) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	dur := fs.Duration("for", 10*time.Second, "how long to send requests")
	workers := fs.Int("workers", 4, "requests in flight at once")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of one request")
	logEach := fs.Bool("log", false, "print each request's start and the task that answered")
	untilEOF := fs.Bool("stdin", false, "stop early when stdin ends")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *workers < 1 || *workers > 64 {
		fmt.Fprintln(os.Stderr, "usage: testapp load [--for D] [--workers 1..64] [--timeout D] URL")
		return 2
	}
	c := http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var errs, log []string
	record := func(start time.Time, task string) {
		if *logEach {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf("%d %s", start.UnixNano(), task))
		}
	}
	fail := func(e string) {
		failed.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 10 {
			errs = append(errs, e)
		}
	}
	end := time.Now().Add(*dur)
	stop := make(chan struct{})
	if *untilEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stop)
		}()
	}
	var started sync.Once
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := c.Get(fs.Arg(0))
				if err != nil {
					fail(err.Error())
					record(start, "-")
					continue
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
				resp.Body.Close()
				var answer struct {
					TaskID string `json:"taskID"`
				}
				_ = json.Unmarshal(body, &answer)
				if resp.StatusCode != http.StatusOK {
					fail(fmt.Sprintf("%s: %.100q", resp.Status, body))
					record(start, "-")
					continue
				}
				ok.Add(1)
				started.Do(func() { fmt.Println("started") })
				record(start, answer.TaskID)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("ok=%d failed=%d\n", ok.Load(), failed.Load())
	for _, e := range errs {
		fmt.Println("error:", e)
	}
	for _, l := range log {
		fmt.Println(l)
	}
	return 0
}
