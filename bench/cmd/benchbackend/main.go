// Command benchbackend is the backend of the ingress benchmark
// (bench/proxy): a trivial HTTP/1.1 server that answers every request with
// the same 100-byte text body. It listens on --listen (default
// 127.0.0.1:0) and prints "listening on ADDR" to stdout once it accepts
// connections. --name is sent back in an X-Backend header so that the
// benchmark can check balancing and stickiness; the body is the same for
// every backend.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// body is the response: 99 bytes and a newline.
var body = []byte("shoal ingress benchmark backend: a fixed 100-byte body, the same on every backend, for GET requests\n")

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	name := flag.String("name", "b", "backend name, sent in X-Backend")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hd["Content-Length"] = []string{length}
		hd["X-Backend"] = []string{*name}
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	fmt.Printf("listening on %s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
