// Package h2serve is the ingress's HTTP/2 server for connections that
// negotiated h2 by ALPN. It reads frames with golang.org/x/net/http2's
// Framer and hpack on the connection's goroutine, runs each request's
// handler on a goroutine of its own, and writes a response's HEADERS and
// DATA (and trailers) with one buffered flush: a small response is one
// TLS record and one write, where net/http's HTTP/2 server writes its
// HEADERS and DATA in two flushes from a third goroutine.
//
// It enforces the limits an internet-facing listener needs, as
// golang.org/x/net/http2's server does (see the package's tests):
//
//   - SETTINGS_MAX_CONCURRENT_STREAMS: a stream past it is refused
//     (RST_STREAM REFUSED_STREAM), and so is one whose handler slot is
//     still held by a handler of a reset stream that has not returned;
//   - rapid reset (CVE-2023-44487) and frame floods: streams reset or
//     refused, or reset by the server over the client's error
//     (MadeYouReset, CVE-2025-8671), SETTINGS, PING, PRIORITY and empty DATA frames count
//     against a per-second budget (abuse.go); past it the connection
//     gets GOAWAY ENHANCE_YOUR_CALM and is closed;
//   - CONTINUATION floods (CVE-2024-27316): the header block is bounded
//     by MAX_HEADER_LIST_SIZE as the Framer bounds it, and the bytes one
//     header block may take on the wire are capped (frameBudget), so
//     empty CONTINUATION frames cannot run forever; a header list over
//     the limit (its decoded size, as SETTINGS_MAX_HEADER_LIST_SIZE
//     advertises it) is answered 431 and counts as a reset;
//   - HPACK amplification: the dynamic table lets a request of a few
//     bytes decode to the whole limit, so the decoded header lists of a
//     connection's running requests are bounded together
//     (MaxConnHeaderBytes); a stream past it is refused;
//   - flow control both ways with bounded buffers: a request body is
//     buffered only within the window granted (per stream and per
//     connection), the window reopened as the handler reads; responses
//     are written within the client's windows, a handler waiting while
//     they are shut, so a client that does not read costs at most a
//     16 KiB chunk per stream and the connection's write buffer; the
//     chunks waiting are bounded per connection (MaxBlockedBytes, past
//     which a stream waits only while the client grants window), and
//     a stream may wait WriteTimeout for 4 KiB of window, so a window
//     trickled open a few bytes at a time does not hold it (both reset
//     with ENHANCE_YOUR_CALM);
//   - timeouts: the preface within PrefaceTimeout, IdleTimeout from the
//     last stream's end (then GOAWAY; frames that open no stream do
//     not extend it), ReadTimeout for a request body, and WriteTimeout as
//     a deadline on every write to the connection and the longest a
//     response waits for the client's windows to open;
//   - Shutdown sends GOAWAY, finishes the streams in flight and closes.
package h2serve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// Config sets the server's limits. The zero value is usable.
type Config struct {
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS (default 250).
	MaxConcurrentStreams uint32
	// MaxHeaderListSize is SETTINGS_MAX_HEADER_LIST_SIZE, the request
	// header list's size as RFC 9113 counts it (default 1 MiB + 4 KiB,
	// net/http's MaxHeaderBytes and slack).
	MaxHeaderListSize uint32
	// MaxConnHeaderBytes bounds the decoded header lists of a
	// connection's requests whose handlers run, counted as
	// MaxHeaderListSize counts them (default 4 × MaxHeaderListSize):
	// HPACK's dynamic table lets a client send a header list of the
	// whole limit in a few bytes per request, so the limit per request
	// alone lets 250 streams hold 250 of them. A stream past it is
	// refused (REFUSED_STREAM), counted against MaxResetsPerSecond.
	MaxConnHeaderBytes int64
	// StreamWindow is the receive window of a stream: the most of a
	// request body buffered (default 256 KiB, at least 65535).
	StreamWindow int32
	// ConnWindow is the receive window of the connection: the most of
	// all its request bodies buffered (default 1 MiB).
	ConnWindow int32
	// PrefaceTimeout bounds the client preface and its SETTINGS
	// (default 10s); IdleTimeout follows.
	PrefaceTimeout time.Duration
	// IdleTimeout closes a connection with no stream open this long
	// (default 180s).
	IdleTimeout time.Duration
	// ReadTimeout bounds reading a request body from its HEADERS (0:
	// none).
	ReadTimeout time.Duration
	// WriteTimeout is the deadline of every write to the connection
	// (default 30s): a client that reads nothing that long loses it; a
	// stream whose flow-control windows stay shut that long, or open
	// by less than minWindowProgress (4 KiB) in that time, is reset.
	WriteTimeout time.Duration
	// MaxBlockedBytes bounds the response bytes a connection's handlers
	// hold while they wait for the client's flow-control windows
	// (default 1 MiB, 64 streams with a full DATA chunk each): a stream
	// that would wait past it, while the client grants no window on the
	// connection for a second, is reset (ENHANCE_YOUR_CALM) and its
	// handler, buffer and backend connection released. A client that
	// reads many streams through small windows keeps them all.
	MaxBlockedBytes int64
	// MaxResetsPerSecond bounds the streams a client resets, and those
	// refused, per second (default 200).
	MaxResetsPerSecond int
	// MaxControlPerSecond bounds SETTINGS, PING, PRIORITY and empty
	// DATA frames per second (default 1000).
	MaxControlPerSecond int
	// ErrorLog receives the connection errors at Debug level and
	// handler panics at Error (default slog.Default()).
	ErrorLog *slog.Logger
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.MaxConcurrentStreams == 0 {
		d.MaxConcurrentStreams = 250
	}
	if d.MaxHeaderListSize == 0 {
		d.MaxHeaderListSize = 1<<20 + 4096
	}
	if d.MaxConnHeaderBytes <= 0 {
		d.MaxConnHeaderBytes = 4 * int64(d.MaxHeaderListSize)
	}
	if d.MaxConnHeaderBytes < int64(d.MaxHeaderListSize) {
		d.MaxConnHeaderBytes = int64(d.MaxHeaderListSize)
	}
	if d.MaxBlockedBytes <= 0 {
		d.MaxBlockedBytes = 1 << 20
	}
	if d.StreamWindow <= 0 {
		d.StreamWindow = 256 << 10
	}
	if d.StreamWindow < 65535 {
		// A client may send the default window's worth before it reads
		// the SETTINGS that shrink it.
		d.StreamWindow = 65535
	}
	if d.ConnWindow <= 0 {
		d.ConnWindow = 1 << 20
	}
	if d.ConnWindow < d.StreamWindow {
		d.ConnWindow = d.StreamWindow
	}
	if d.PrefaceTimeout <= 0 {
		d.PrefaceTimeout = 10 * time.Second
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = 180 * time.Second
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 30 * time.Second
	}
	if d.MaxResetsPerSecond <= 0 {
		d.MaxResetsPerSecond = 200
	}
	if d.MaxControlPerSecond <= 0 {
		d.MaxControlPerSecond = 1000
	}
	if d.ErrorLog == nil {
		d.ErrorLog = slog.Default()
	}
	return d
}

// ConnInfo describes the client connection to the handlers.
type ConnInfo struct {
	// RemoteAddr is Request.RemoteAddr.
	RemoteAddr string
	// TLS is Request.TLS.
	TLS *tls.ConnectionState
	// Context, when set, is the parent of the requests' contexts (the
	// connection's values, such as its TLS options).
	Context context.Context
}

// Handler serves a request; it is http.Handler.
type Handler = http.Handler
