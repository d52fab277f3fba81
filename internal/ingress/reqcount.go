package ingress

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The methods the metrics name; any other is counted as "OTHER", so a
// client cannot add label values at will.
var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"}

// methodIndex is the index of m in methodNames.
func methodIndex(m string) uint8 {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodDelete:
		return 4
	case http.MethodPatch:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return 9
}

// The protocol label's values, as Traefik v3 tells requests apart.
const (
	protoHTTP uint8 = iota
	protoWebSocket
	protoSSE
)

var protoNames = [...]string{"http", "websocket", "sse"}

// requestProto classifies a net/http request as Traefik does: a
// WebSocket upgrade, server-sent events (Accept: text/event-stream), or
// plain HTTP.
func requestProto(r *http.Request) uint8 {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return protoWebSocket
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return protoSSE
	}
	return protoHTTP
}

// headProto classifies a fast-path request (which has no upgrades).
func headProto(r *reqHead) uint8 {
	for i := range r.fields {
		f := &r.fields[i]
		if len(f.name) == 6 && strings.EqualFold(f.name, "Accept") && strings.Contains(f.value, "text/event-stream") {
			return protoSSE
		}
	}
	return protoHTTP
}

// maxCells bounds the (code, method, protocol) series one router,
// service or entry point keeps: backends choose the codes, and what
// comes after the bound is counted under code 0.
const maxCells = 128

// reqCell counts the requests of one code, method and protocol.
type reqCell struct {
	key   uint32
	code  int
	meth  uint8
	proto uint8
	h     histogram
}

// reqCounter counts requests by code, method and protocol, with their
// durations. Recording is lock-free once a combination was seen: a
// linear scan of a few cells, then atomic adds.
type reqCounter struct {
	cells atomic.Pointer[[]*reqCell]
	mu    sync.Mutex // held to add a cell
}

func cellKey(code int, meth, proto uint8) uint32 {
	return uint32(code)<<8 | uint32(meth)<<2 | uint32(proto)
}

// observe counts one request.
func (c *reqCounter) observe(code int, meth, proto uint8, d time.Duration) {
	if code < 0 || code > 999 {
		code = 0
	}
	key := cellKey(code, meth, proto)
	if p := c.cells.Load(); p != nil {
		for _, x := range *p {
			if x.key == key {
				x.h.observe(d)
				return
			}
		}
	}
	c.add(code, meth, proto).h.observe(d)
}

// add returns the cell of code, meth and proto, adding it (copy on
// write) when missing.
func (c *reqCounter) add(code int, meth, proto uint8) *reqCell {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cells []*reqCell
	if p := c.cells.Load(); p != nil {
		cells = *p
	}
	if len(cells) >= maxCells {
		code, meth, proto = 0, 9, protoHTTP
	}
	key := cellKey(code, meth, proto)
	for _, x := range cells {
		if x.key == key {
			return x
		}
	}
	x := &reqCell{key: key, code: code, meth: meth, proto: proto}
	next := append(cells[:len(cells):len(cells)], x)
	c.cells.Store(&next)
	return x
}

// each calls f for every cell.
func (c *reqCounter) each(f func(x *reqCell)) {
	if p := c.cells.Load(); p != nil {
		for _, x := range *p {
			f(x)
		}
	}
}

// snapshot sums the cells: the requests, their count by status class
// ("2xx", …) and their latencies.
func (c *reqCounter) snapshot() (total uint64, byClass map[string]uint64, lat Histogram) {
	byClass = map[string]uint64{}
	lat = Histogram{Bounds: LatencyBuckets, Counts: make([]uint64, len(LatencyBuckets)+1)}
	c.each(func(x *reqCell) {
		h := x.h.snapshot()
		for i, n := range h.Counts {
			lat.Counts[i] += n
		}
		lat.Count += h.Count
		lat.Sum += h.Sum
		if h.Count > 0 {
			byClass[codeClass(x.code)] += h.Count
		}
	})
	return lat.Count, byClass, lat
}

func codeClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
