package h2serve

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// Responses without a body (HEAD, 204, 304) are one HEADERS frame with
// END_STREAM, whatever the handler writes; a 1xx goes before the final
// head without ending the stream.
func TestBodilessFraming(t *testing.T) {
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		case "/103":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
		}
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	}))
	for _, tc := range []struct{ method, path, want string }{
		{"HEAD", "/", "HEADERS 200 end"},
		{"GET", "/204", "HEADERS 204 end"},
		{"GET", "/304", "HEADERS 304 end"},
		{"GET", "/103", `HEADERS 103, HEADERS 200, DATA "hello" end`},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			c := dialRaw(t, s.addr())
			c.request(1, tc.method, tc.path, true)
			var got []string
			if err := c.until(func(f http2.Frame) bool {
				if f.Header().StreamID != 1 {
					return false
				}
				end := ""
				if f.Header().Flags.Has(http2.FlagHeadersEndStream) {
					end = " end"
				}
				switch f := f.(type) {
				case *http2.MetaHeadersFrame:
					got = append(got, "HEADERS "+f.PseudoValue("status")+end)
				case *http2.DataFrame:
					got = append(got, fmt.Sprintf("DATA %q%s", f.Data(), end))
				case *http2.RSTStreamFrame:
					got = append(got, "RST "+f.ErrCode.String())
					return true
				}
				return end != ""
			}); err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, ", "); g != tc.want {
				t.Errorf("got %s, want %s", g, tc.want)
			}
		})
	}
}
