package h2serve

import (
	"fmt"
	"net/http"
	"strconv"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// A response head given as HPACK fields rather than an http.Header:
// the ingress's HTTP/2 forward (internal/ingress/h2fast.go) relays a
// backend's head this way without building header maps.

// FieldsWriter is implemented by the ResponseWriter h2serve gives
// handlers.
type FieldsWriter interface {
	// WriteHeaderFields is WriteHeader(code) for a final response
	// (code >= 200) whose header is fields instead of Header(): names
	// in lower case; a field with an invalid name or value, or a
	// connection-specific one, is left out as from Header(). The head is
	// completed as WriteHeader's (Date, Content-Type sniffed,
	// Content-Length when the handler returns with the whole body
	// written); fields must not change until the handler returns.
	// Trailers are not offered: Header() is not read for them.
	WriteHeaderFields(code int, fields []hpack.HeaderField)
}

var _ FieldsWriter = (*responseWriter)(nil)

func (w *responseWriter) WriteHeaderFields(code int, fields []hpack.HeaderField) {
	if w.status != 0 {
		return
	}
	if code < 200 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeaderFields code %v", code))
	}
	w.status = code
	w.fields, w.fieldsSet = fields, true
	w.declared = -1
	for i, f := range fields {
		if f.Name != "content-length" {
			continue
		}
		if n, err := strconv.ParseInt(f.Value, 10, 64); err == nil && n >= 0 && w.declared < 0 {
			w.declared = n
		} else {
			// As WriteHeader: an invalid length is not sent (nor a
			// second one).
			w.fields = append(fields[:i:i], fields[i+1:]...)
			return
		}
	}
}

// completeFields is completeHead for a head of fields.
func (w *responseWriter) completeFields(final bool) {
	var hasType, hasDate, hasLength bool
	for _, f := range w.fields {
		switch f.Name {
		case "content-type":
			hasType = true
		case "date":
			hasDate = true
		case "content-length":
			hasLength = true
		}
	}
	if bodyAllowed(w.status) {
		if !hasType && len(w.buf) > 0 {
			w.fields = append(w.fields, hpack.HeaderField{Name: "content-type", Value: http.DetectContentType(w.buf)})
		}
		if final && w.declared < 0 && !w.head && !hasLength {
			w.fields = append(w.fields, hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(w.buf))})
		}
	}
	if !hasDate {
		w.fields = append(w.fields, hpack.HeaderField{Name: "date", Value: httpDate()})
	}
}

// writeFields is writeHead for a head of fields (c.wmu held).
func (c *Conn) writeFields(id uint32, status int, fields []hpack.HeaderField, end bool, fs int) error {
	c.hbuf = c.hbuf[:0]
	_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	for _, f := range fields {
		if isConnHeader(f.Name) || !httpguts.ValidHeaderFieldName(f.Name) || !httpguts.ValidHeaderFieldValue(f.Value) {
			continue
		}
		_ = c.henc.WriteField(f)
	}
	return c.writeBlock(id, end, fs)
}
