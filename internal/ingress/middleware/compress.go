package middleware

import (
	"compress/gzip"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// compress: gzip responses of at least minResponseBodyBytes (default
// 1024) to clients that accept it, except those already encoded, partial
// ones, and excludedContentTypes (gRPC and event streams always) or
// those not in includedContentTypes. Brotli and zstd, which Traefik also
// offers, are not: a client accepting only those gets the response
// unencoded, so encodings must include gzip.
type compress struct {
	min      int
	excluded []string
	included []string
	// gzipDefault compresses for a request without Accept-Encoding
	// (defaultEncoding=gzip).
	gzipDefault bool
}

const maxCompressMin = 16 << 20

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression); return w }}

func newCompress(o *options) Middleware {
	o.noOptions()
	c := &compress{min: int(o.integer("minResponseBodyBytes", 1024, 0))}
	if c.min > maxCompressMin {
		o.fail("minResponseBodyBytes", "at most %d", maxCompressMin)
	}
	c.excluded = append(o.mediaTypes("excludedContentTypes"), "application/grpc", "text/event-stream")
	c.included = o.mediaTypes("includedContentTypes")
	if len(c.included) > 0 && len(c.excluded) > 2 {
		o.fail("includedContentTypes", "excludedContentTypes and includedContentTypes are mutually exclusive")
	}
	if enc, ok := o.get("encodings"); ok {
		if !containsFold(strings.Split(enc, ","), "gzip") {
			o.fail("encodings", "%q: shoal's ingress compresses with gzip only; list gzip", enc)
		}
	}
	switch d := o.str("defaultEncoding", ""); {
	case strings.EqualFold(d, "gzip"):
		c.gzipDefault = true
	case d != "":
		o.fail("defaultEncoding", "%q: shoal's ingress compresses with gzip only", d)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead || !c.accepts(r.Header.Values("Accept-Encoding")) {
				next.ServeHTTP(w, r)
				return
			}
			cw := &compressWriter{ResponseWriter: w, c: c}
			defer cw.finish()
			next.ServeHTTP(cw, r)
		})
	}
}

func containsFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

func (o *options) mediaTypes(key string) []string {
	var out []string
	for _, s := range o.list(key) {
		mt, _, err := mime.ParseMediaType(s)
		if err != nil {
			o.fail(key, "%q is not a media type", s)
			continue
		}
		out = append(out, mt)
	}
	return out
}

// accepts reads Accept-Encoding: gzip (or *) with a q-value above 0.
func (c *compress) accepts(values []string) bool {
	if len(values) == 0 {
		return c.gzipDefault
	}
	gzip, star := -1.0, -1.0
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(item, ";")
			q := 1.0
			if k, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				}
			}
			switch name = strings.TrimSpace(name); {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gzip = q
			case name == "*":
				star = q
			}
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}

// compressible decides on a response's head.
func (c *compress) compressible(code int, h http.Header) bool {
	if code == http.StatusNoContent || code == http.StatusNotModified || code == http.StatusPartialContent ||
		h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" {
		return false
	}
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n < int64(c.min) {
		return false
	}
	return c.typeAllowed(h.Get("Content-Type"))
}

func (c *compress) typeAllowed(ct string) bool {
	if ct == "" {
		return true // decided once sniffed
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if len(c.included) > 0 {
		return containsFold(c.included, mt)
	}
	return !containsFold(c.excluded, mt)
}

// compressWriter holds the head and the first bytes of a response until
// it knows whether to compress it.
type compressWriter struct {
	http.ResponseWriter
	c      *compress
	status int // the held status; 0 before the head
	buf    []byte
	state  int // 0 deciding, 1 plain, 2 gzip
	gz     *gzip.Writer
}

func (w *compressWriter) WriteHeader(code int) {
	switch {
	case w.state != 0 || w.status != 0:
		return // a second head: as net/http, ignored
	case code < 200:
		w.ResponseWriter.WriteHeader(code)
	case !w.c.compressible(code, w.Header()):
		w.state = 1
		w.ResponseWriter.WriteHeader(code)
	default:
		w.status = code
	}
}

func (w *compressWriter) Write(b []byte) (int, error) {
	if w.state == 0 && w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case 1:
		return w.ResponseWriter.Write(b)
	case 2:
		return w.gz.Write(b)
	}
	w.buf = append(w.buf, b...)
	if len(w.buf) >= w.c.min {
		if err := w.decide(); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// decide ends the wait: gzip when the body reached the threshold and its
// sniffed type is allowed, else plain; the held bytes are written.
func (w *compressWriter) decide() error {
	h := w.Header()
	if h.Get("Content-Type") == "" && len(w.buf) > 0 {
		h.Set("Content-Type", http.DetectContentType(w.buf))
	}
	if len(w.buf) < w.c.min || !w.c.typeAllowed(h.Get("Content-Type")) {
		w.state = 1
		w.ResponseWriter.WriteHeader(w.status)
		_, err := w.ResponseWriter.Write(w.buf)
		w.buf = nil
		return err
	}
	w.state = 2
	h.Del("Content-Length")
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	w.ResponseWriter.WriteHeader(w.status)
	w.gz = gzipWriters.Get().(*gzip.Writer)
	w.gz.Reset(w.ResponseWriter)
	_, err := w.gz.Write(w.buf)
	w.buf = nil
	return err
}

// Flush sends what is held: a response flushed before the threshold
// goes out unencoded.
func (w *compressWriter) Flush() {
	if w.state == 0 && w.status != 0 {
		_ = w.decide()
	}
	if w.state == 2 {
		_ = w.gz.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *compressWriter) finish() {
	if w.state == 0 && w.status != 0 {
		_ = w.decide()
	}
	if w.gz != nil {
		_ = w.gz.Close()
		w.gz.Reset(nil)
		gzipWriters.Put(w.gz)
		w.gz = nil
	}
}

func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
