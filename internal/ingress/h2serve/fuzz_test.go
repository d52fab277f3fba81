package h2serve

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seedFrames are frame sequences a client sends after the preface.
func seedFrames() [][]byte {
	var seeds [][]byte
	enc := func(fields ...string) []byte {
		var b bytes.Buffer
		e := hpack.NewEncoder(&b)
		for i := 0; i < len(fields); i += 2 {
			_ = e.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return b.Bytes()
	}
	get := enc(":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/")
	post := enc(":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/p", "content-length", "3")
	for _, write := range []func(fr *http2.Framer){
		func(fr *http2.Framer) {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true, EndHeaders: true})
		},
		func(fr *http2.Framer) {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: post, EndHeaders: true})
			_ = fr.WriteData(1, false, []byte("ab"))
			_ = fr.WriteDataPadded(1, true, []byte("c"), []byte{0, 0})
		},
		func(fr *http2.Framer) {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: get[:3], EndHeaders: false})
			_ = fr.WriteContinuation(3, true, get[3:])
			_ = fr.WriteRSTStream(3, http2.ErrCodeCancel)
			_ = fr.WritePing(false, [8]byte{1})
			_ = fr.WriteWindowUpdate(0, 1000)
		},
		func(fr *http2.Framer) {
			_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14})
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true, EndHeaders: true})
			_ = fr.WriteWindowUpdate(1, 100)
			_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		},
	} {
		var b bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		_ = fr.WriteSettings()
		write(fr)
		seeds = append(seeds, b.Bytes())
	}
	return seeds
}

// FuzzConn feeds frames to a connection: whatever comes, it must not
// panic, and must end once the client has sent everything and closed.
func FuzzConn(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-T")
		_, _ = w.Write(b)
		w.Header().Set("X-T", "t")
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		cli, srv := net.Pipe()
		c := NewConn(srv, &Config{PrefaceTimeout: time.Second, IdleTimeout: time.Second, ReadTimeout: time.Second,
			WriteTimeout: time.Second, ErrorLog: quietLog}, handler, ConnInfo{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.Serve()
		}()
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		_ = cli.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.WriteString(cli, http2.ClientPreface)
		_, _ = cli.Write(in)
		_ = cli.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection did not end")
		}
	})
}
