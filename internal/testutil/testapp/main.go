// Command testapp is a small HTTP server for tests that run tasks: it is
// built as a static program and runs alone in a FROM scratch image (see
// testutil.BuildImage) or as a host process.
//
// It listens on --listen, else on $SHOAL_NODE_ADDR:$PORT (all addresses
// when SHOAL_NODE_ADDR is unset), else on :8080, prints
// "testapp listening on ADDR" to stdout once it is ready (its signals
// handled) and "testapp started" to stderr, and serves:
//
//	/            JSON: hostname, SHOAL_TASK_ID, SHOAL_TASK_NAME, SHOAL_SERVICE_NAME,
//	             SHOAL_TASK_SLOT, the instance ID (random, one per process) and pid
//	/health      200 "ok", or 503 when /tmp/unhealthy (or --unhealthy-file)
//	             exists or --unhealthy was given
//	/env         JSON object of the environment
//	/file?path=P JSON: whether P exists, its mode, uid, gid, size, file
//	             system type ("tmpfs", "overlay", ...) and content
//	/exit?code=N answers, then exits with code N
//	/slow?d=D    answers after D (a Go duration), to test graceful stops
//	/call?url=U  GETs U (one try, 5s) and answers with its status and
//	             body (at most 64 KiB), or 502 and the error: a front
//	             end calling its back ends by name
//
// On SIGTERM (or SIGINT) it stops accepting connections, finishes the
// requests in flight and exits 0; with --ignore-term it ignores SIGTERM.
//
// Subcommands, for health checks in an image that has no shell:
//
//	testapp health [--url URL]   GET URL (default http://ADDR:PORT/health,
//	                             the address and port as the server finds
//	                             them, 127.0.0.1 for all); exit 0 on
//	                             200, 1 otherwise
//	testapp exit N               exit with code N
//	testapp udp-echo [--listen ADDR]
//	                             answer each UDP datagram with
//	                             "SHOAL_TASK_ID:" and the datagram, on the
//	                             address the server would listen on
//	testapp resolve [--wait D] NAME
//	                             print NAME's addresses, sorted, one a
//	                             line; exit 1 if it does not resolve
//	                             (within D)
//	testapp get [--wait D] URL   print the body of a 200 answer; exit 1
//	                             otherwise (within D)
//	testapp load [--for D] [--workers N] [--stdin] URL
//	                             GET URL from N workers for D, a new
//	                             connection per request, and print
//	                             "started", then "ok=N failed=M" and the
//	                             first errors; --stdin: stop at its end;
//	                             --log: each request's start and task
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "health":
			os.Exit(healthCmd(os.Args[2:]))
		case "udp-echo":
			os.Exit(udpEcho(os.Args[2:]))
		case "resolve":
			os.Exit(resolveCmd(os.Args[2:]))
		case "get":
			os.Exit(getCmd(os.Args[2:]))
		case "load":
			os.Exit(loadCmd(os.Args[2:]))
		case "exit":
			code := 0
			if len(os.Args) > 2 {
				code, _ = strconv.Atoi(os.Args[2])
			}
			os.Exit(code)
		}
	}
	os.Exit(serve(os.Args[1:]))
}

// listenAddr returns the address to listen on: flag, then $PORT on
// $SHOAL_NODE_ADDR (the process runtime's node address; all addresses
// when unset), then :8080.
func listenAddr(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv("PORT"); p != "" {
		return net.JoinHostPort(os.Getenv("SHOAL_NODE_ADDR"), p)
	}
	return ":8080"
}

func healthCmd(args []string) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	url := fs.String("url", "", "URL to check")
	listen := fs.String("listen", "", "address the server listens on")
	timeout := fs.Duration("timeout", 5*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		host, port, err := net.SplitHostPort(listenAddr(*listen))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		*url = "http://" + net.JoinHostPort(host, port) + "/health"
	}
	c := http.Client{Timeout: *timeout}
	resp, err := c.Get(*url)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	fmt.Printf("%s: %s\n", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// udpEcho answers every datagram with the task's ID and the datagram,
// until SIGTERM.
func udpEcho(args []string) int {
	fs := flag.NewFlagSet("udp-echo", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default :$PORT, else :8080)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pc, err := net.ListenPacket("udp", listenAddr(*listen))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		pc.Close()
	}()
	fmt.Printf("testapp udp-echo listening on %s\n", pc.LocalAddr())
	prefix := []byte(os.Getenv("SHOAL_TASK_ID") + ":")
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return 0 // closed by the signal
		}
		_, _ = pc.WriteTo(append(append([]byte(nil), prefix...), buf[:n]...), from)
	}
}

func serve(args []string) int {
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default :$PORT, else :8080)")
	unhealthy := fs.Bool("unhealthy", false, "answer /health with 503")
	unhealthyFile := fs.String("unhealthy-file", "/tmp/unhealthy", "answer /health with 503 while this file exists")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	// Signals are handled before the "listening" line, which tells that
	// the program is ready.
	sigs := make(chan os.Signal, 1)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(sigs, syscall.SIGINT)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	}

	var idb [8]byte
	_, _ = rand.Read(idb[:])
	instance := hex.EncodeToString(idb[:])

	exitCode := make(chan int, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		host, _ := os.Hostname()
		writeJSON(w, map[string]any{
			"hostname":    host,
			"taskID":      os.Getenv("SHOAL_TASK_ID"),
			"taskName":    os.Getenv("SHOAL_TASK_NAME"),
			"serviceName": os.Getenv("SHOAL_SERVICE_NAME"),
			"slot":        os.Getenv("SHOAL_TASK_SLOT"),
			"instance":    instance,
			"pid":         os.Getpid(),
		})
	})
	// A form with an anti-forgery token kept in this instance's memory, as
	// the seed story's WebForms app: a POST only succeeds on the instance
	// that rendered the form.
	var tokensMu sync.Mutex
	tokens := map[string]bool{}
	form := func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			var b [16]byte
			_, _ = rand.Read(b[:])
			tok := hex.EncodeToString(b[:])
			tokensMu.Lock()
			tokens[tok] = true
			tokensMu.Unlock()
			fmt.Fprintf(w, "token=%s instance=%s\n", tok, instance)
		case http.MethodPost:
			tokensMu.Lock()
			ok := tokens[r.FormValue("token")]
			tokensMu.Unlock()
			if !ok {
				http.Error(w, "invalid anti-forgery token (instance "+instance+")", http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "saved by instance=%s\n", instance)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}
	mux.HandleFunc("/call", callHandler)
	mux.HandleFunc("/form", form)
	mux.HandleFunc("/app/form", form)
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if *unhealthy {
			http.Error(w, "unhealthy (flag)", http.StatusServiceUnavailable)
			return
		}
		if _, err := os.Stat(*unhealthyFile); err == nil {
			http.Error(w, "unhealthy ("+*unhealthyFile+" exists)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		writeJSON(w, env)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fileInfo(r.URL.Query().Get("path")))
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(w, "exiting with code %d\n", code)
		select {
		case exitCode <- code:
		default:
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		fmt.Fprintf(w, "slept %v\n", d)
	})

	addr := listenAddr(*listen)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	fmt.Printf("testapp listening on %s\n", l.Addr())
	fmt.Fprintln(os.Stderr, "testapp started")

	select {
	case sig := <-sigs:
		fmt.Printf("testapp got %v, shutting down\n", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case code := <-exitCode:
		// Let the /exit answer go out first.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		return code
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	}
}

// fileReport is what /file answers.
type fileReport struct {
	Path    string `json:"path"`
	Exists  bool   `json:"exists"`
	Error   string `json:"error,omitempty"`
	IsDir   bool   `json:"isDir,omitempty"`
	Mode    string `json:"mode,omitempty"` // octal permission bits, "0444"
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	Size    int64  `json:"size"`
	FSType  string `json:"fsType,omitempty"`
	Content string `json:"content,omitempty"`
}

// File system magic numbers (statfs f_type).
var fsTypes = map[int64]string{
	0x01021994: "tmpfs",
	0x794c7630: "overlay",
	0x65735546: "fuse",
	0xef53:     "ext4",
	0x58465342: "xfs",
	0x9123683e: "btrfs",
	0x62656572: "sysfs",
	0x9fa0:     "proc",
}

func fileInfo(path string) fileReport {
	rep := fileReport{Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Exists = true
	rep.IsDir = fi.IsDir()
	rep.Mode = fmt.Sprintf("%04o", fi.Mode().Perm())
	rep.Size = fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		rep.UID, rep.GID = int(st.Uid), int(st.Gid)
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(path, &sfs); err == nil {
		t := int64(sfs.Type)
		if name, ok := fsTypes[t]; ok {
			rep.FSType = name
		} else {
			rep.FSType = fmt.Sprintf("0x%x", t)
		}
	}
	if !fi.IsDir() && fi.Size() <= 1<<20 {
		data, err := os.ReadFile(path)
		if err != nil {
			rep.Error = err.Error()
		} else {
			rep.Content = string(data)
		}
	}
	return rep
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
