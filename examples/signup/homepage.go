package main

import (
	"flag"
	"fmt"
	"html"
	"net/http"
)

func homepageCmd(args []string) error {
	fs := flag.NewFlagSet("homepage", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default :$PORT, else :8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler(nil))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Sign up</title>
<h1>Newsletter sign-up</h1>
<p>Be the first to hear about our products. <a href="/app/">Sign up now</a>.</p>
<p><small>homepage served by %s</small></p>
`, html.EscapeString(replica()))
	})
	return serve(listenAddr(*listen), mux)
}
