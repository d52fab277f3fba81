package middleware

import "net/http"

// contenttype (traefik.http.middlewares.NAME.contenttype=true): a
// response the backend sent without Content-Type gets the one its first
// bytes show (http.DetectContentType), as Traefik v3 does only with this
// middleware. (Routers with middlewares run on the net/http path, whose
// server already sniffs; the middleware makes it explicit.)
func newContentType(o *options) Middleware {
	o.noOptions()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &sniffWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if !sw.started {
				sw.start(nil) // no body: the held status goes out
			}
		})
	}
}

// sniffWriter sets Content-Type from the first bytes written when the
// response has none.
type sniffWriter struct {
	http.ResponseWriter
	code    int // held until the first write
	started bool
}

func (w *sniffWriter) WriteHeader(code int) {
	if code < 200 || w.started {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.code == 0 {
		w.code = code
	}
}

func (w *sniffWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.start(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *sniffWriter) start(b []byte) {
	w.started = true
	if _, set := w.Header()["Content-Type"]; !set && len(b) > 0 && w.Header().Get("Content-Encoding") == "" {
		w.Header().Set("Content-Type", http.DetectContentType(b))
	}
	if w.code != 0 {
		w.ResponseWriter.WriteHeader(w.code)
	}
}

func (w *sniffWriter) Flush() {
	if !w.started {
		w.start(nil)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *sniffWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
