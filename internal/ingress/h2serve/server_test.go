package h2serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
)

// echo answers with what the request was: a digest of its body and its
// size, the method, path, Host and cookie; /big/N sends N bytes.
func echo(w http.ResponseWriter, r *http.Request) {
	if n, ok := strings.CutPrefix(r.URL.Path, "/big/"); ok {
		size, _ := strconv.Atoi(n)
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := bytes.Repeat([]byte("x"), 4096)
		for size > 0 {
			k := min(size, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			size -= k
		}
		return
	}
	if r.URL.Path == "/trailers" {
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "body")
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		return
	}
	if r.URL.Path == "/nocontent" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	fmt.Fprintf(w, "%s %s %s %d %s cookie=%q proto=%s", r.Method, r.URL.RequestURI(), r.Host, n,
		hex.EncodeToString(h.Sum(nil))[:16], r.Header.Get("Cookie"), r.Proto)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])[:16]
}

// Go's HTTP/2 client gets what net/http's server would give it: bodies
// both ways larger than every window, trailers, HEAD, 204, many streams
// at once on one connection.
func TestGoClient(t *testing.T) {
	s := startServer(t, Config{StreamWindow: 64 << 10, ConnWindow: 128 << 10}, http.HandlerFunc(echo))
	c := goClient(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16) // 300 KiB
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		status             int
		want               string // body, or its length for /big
		wantLen            int
	}{
		{"get", "GET", "/a?b=c", nil, 200, "GET /a?b=c " + "HOST 0 e3b0c44298fc1c14 cookie=\"\" proto=HTTP/2.0", 0},
		{"post over the windows", "POST", "/up", big, 200, fmt.Sprintf("POST /up HOST %d %s cookie=\"\" proto=HTTP/2.0", len(big), digest(big)), 0},
		{"download over the windows", "GET", "/big/1000000", nil, 200, "", 1000000},
		{"head", "HEAD", "/a", nil, 200, "", 0},
		{"no content", "GET", "/nocontent", nil, 204, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, "http://"+s.addr()+tc.path, body)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tc.want, "HOST", s.addr())
			if resp.StatusCode != tc.status || resp.ProtoMajor != 2 || (tc.wantLen == 0 && string(got) != want) || (tc.wantLen > 0 && len(got) != tc.wantLen) {
				t.Errorf("%s %d %q (%d bytes), want %d %q", resp.Proto, resp.StatusCode, got, len(got), tc.status, want)
			}
			if tc.method == "GET" && tc.status == 200 && resp.Header.Get("Date") == "" {
				t.Error("no Date header")
			}
		})
	}
	t.Run("trailers", func(t *testing.T) {
		resp, err := c.Get("http://" + s.addr() + "/trailers")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" || resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Late") != "late" {
			t.Errorf("%q trailers %v", b, resp.Trailer)
		}
	})
	t.Run("concurrent streams", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := bytes.Repeat([]byte{byte(i)}, 1000*i)
				resp, err := c.Post("http://"+s.addr()+"/p", "x", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(b), fmt.Sprintf(" %d %s ", len(body), digest(body))) {
					errs <- fmt.Errorf("stream %d: %q", i, b)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// A small response is one flush: HEADERS and DATA in one write to the
// connection, which is what makes it one TLS record.
func TestSmallResponseIsOneWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var writes atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		c := NewConn(&countConn{Conn: nc, n: &writes}, &Config{ErrorLog: quietLog}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-A", "b")
			_, _ = io.WriteString(w, "hello")
		}), ConnInfo{})
		_ = c.Serve()
	}()
	c := dialRaw(t, ln.Addr().String())
	if err := c.until(func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() }); err != nil {
		t.Fatal(err)
	}
	before := writes.Load()
	c.request(1, "GET", "/", true)
	var got []string
	if err := c.until(func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			got = append(got, "HEADERS "+f.PseudoValue("status"))
		case *http2.DataFrame:
			got = append(got, fmt.Sprintf("DATA %q %v", f.Data(), f.StreamEnded()))
			return f.StreamEnded()
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load() - before; n != 1 || strings.Join(got, ", ") != `HEADERS 200, DATA "hello" true` {
		t.Errorf("%d writes for %v, want 1", n, got)
	}
	c.nc.Close()
	<-done
}

type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}
