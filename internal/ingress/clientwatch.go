package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"time"
)

// Watching the client while a backend is silent, on the fast path. The
// fast path has no goroutine reading the client during a request (as
// net/http's background read): a client that leaves would be noticed
// only when the response is written, and a hung backend would hold the
// request, its connection and the client's socket (CLOSE-WAIT) for as
// long as it stays silent. So a backend read that waits longer than
// watchGrace starts watchClient, which ends the backend read as soon as
// the client closes; answers that come sooner cost no goroutine.

// errClientGone ends an attempt whose client closed its connection while
// the backend prepared the response.
var errClientGone = errors.New("ingress: client went away")

// watchGrace is how long the fast path waits for a backend's first
// response byte before it starts watching the client (watchClient): a
// response that comes sooner costs no goroutine, and a client that left
// is still noticed within this long of the backend's silence.
const watchGrace = 20 * time.Millisecond

// awaitResponse reads the backend's response head within the
// response-header timeout (the deadline is left set: the caller clears
// it). A backend silent past watchGrace has the client watched while it
// is waited for: the client's leaving ends the wait (gone), and the
// request is dropped at the backend by closing its connection, as Traefik
// cancels the backend request. While the request body still streams
// (copyBody reads the client, and notices it leave), the wait is cut in
// growing slices until the copy is over, and the watch starts then.
func (c *fconn) awaitResponse(bc *bconn, now time.Time, streaming bool) (gotResp, gone bool, err error) {
	var deadline time.Time
	if d := bc.pool.cfg.responseHeaderTimeout; d > 0 {
		deadline = now.Add(d)
	}
	slice := watchGrace
	next := now.Add(slice)
	for {
		// c.br belongs to copyBody while the body streams.
		if (!streaming && c.br.Buffered() > 0) || (!deadline.IsZero() && !next.Before(deadline)) {
			_ = bc.c.SetReadDeadline(deadline)
			gotResp, err = c.readResponseHead(bc)
			return gotResp, false, err
		}
		_ = bc.c.SetReadDeadline(next)
		if _, err := bc.br.Peek(1); err == nil || !isTimeout(err) {
			// A whole final head already here is parsed without
			// reading the connection: its deadline need not change (a
			// call saved per request; the caller clears it).
			if err != nil || !finalHeadBuffered(bc.br) {
				_ = bc.c.SetReadDeadline(deadline)
			}
			gotResp, err = c.readResponseHead(bc)
			return gotResp, false, err
		}
		if !streaming {
			break
		}
		select {
		case res := <-c.copyDone:
			// Put back for relay or stopCopy, which take it as
			// usual; the client is free to watch once the body
			// arrived whole.
			c.copyDone <- res
			if res.clientErr != nil || res.backendErr != nil {
				_ = bc.c.SetReadDeadline(deadline)
				gotResp, err = c.readResponseHead(bc)
				return gotResp, false, err
			}
			streaming = false
		default:
			slice = min(2*slice, time.Second)
			next = time.Now().Add(slice)
		}
	}
	// The deadline first: the watch may end the read at once, by
	// setting one in the past.
	_ = bc.c.SetReadDeadline(deadline)
	stop, ok := c.watchClient(bc)
	gotResp, err = c.readResponseHead(bc)
	if ok {
		gone = stop()
	}
	return gotResp, gone, err
}

// finalHeadBuffered reports whether br holds a whole response head that
// is not informational (1xx, after which another head is read).
func finalHeadBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return len(b) > 12 && b[9] != '1' && bytes.Contains(b, crlfcrlf)
}

var crlfcrlf = []byte("\r\n\r\n")

// relayWatch is the client watch of one response body's relay: bconn.Read
// starts it once a read of the body waited watchGrace (a stream between
// two events, a backend stalled mid-body).
type relayWatch struct {
	c     *fconn
	stop  func() bool // set once the watch runs
	armed bool        // a watchGrace deadline is set on the connection
	done  bool
	gone  bool
}

// finish stops the watch, if it runs, and reports whether the client
// went away; it may be called again.
func (w *relayWatch) finish() bool {
	if w.stop != nil && !w.done {
		w.done = true
		w.gone = w.stop()
	}
	return w.gone
}

// Read reads from the backend connection (bc.br reads through it). While
// a response body is relayed with a relayWatch, a read that gets nothing
// for watchGrace starts the client watch, and a read ended by the
// client's leaving returns errClientGone.
func (bc *bconn) Read(p []byte) (int, error) {
	w := bc.rw
	if w == nil || w.done {
		return bc.c.Read(p)
	}
	if w.stop == nil {
		_ = bc.c.SetReadDeadline(time.Now().Add(watchGrace))
		w.armed = true
		n, err := bc.c.Read(p)
		if n > 0 || err == nil || !isTimeout(err) {
			return n, err
		}
		_ = bc.c.SetReadDeadline(time.Time{})
		w.armed = false
		stop, ok := w.c.watchClient(bc)
		if !ok {
			w.done = true
			return bc.c.Read(p)
		}
		w.stop = stop
	}
	n, err := bc.c.Read(p)
	if err != nil && isTimeout(err) && w.finish() {
		return n, errClientGone
	}
	return n, err
}

// watchRelay lets the relay of a response body from bc watch the client
// (see relayWatch); endRelayWatch ends it and reports whether the
// client went away.
func (c *fconn) watchRelay(bc *bconn) {
	c.rw = relayWatch{c: c}
	bc.rw = &c.rw
}

func (c *fconn) endRelayWatch(bc *bconn) bool {
	w := bc.rw
	if w == nil {
		return false
	}
	bc.rw = nil
	if w.armed {
		_ = bc.c.SetReadDeadline(time.Time{})
	}
	gone := w.finish()
	*w = relayWatch{}
	return gone
}
