package h2serve

import (
	"time"

	"golang.org/x/net/http2"
)

// abuse counts, per one-second window, what costs the server work and
// the client nothing: streams reset by the client before their response
// was done, or refused (rapid reset, CVE-2023-44487), and SETTINGS,
// PING, PRIORITY and empty DATA frames. Past a budget the connection
// gets GOAWAY ENHANCE_YOUR_CALM. Only the reading goroutine uses it.
type abuse struct {
	maxResets, maxControl int
	start                 time.Time
	resets, ctrl          int
}

func (a *abuse) init(maxResets, maxControl int) {
	a.maxResets, a.maxControl = maxResets, maxControl
}

// errCalm is a connection over a budget.
var errCalm = http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)

func (a *abuse) window() {
	if now := time.Now(); now.Sub(a.start) > time.Second {
		a.start, a.resets, a.ctrl = now, 0, 0
	}
}

// reset counts a stream reset or refused.
func (a *abuse) reset() error {
	a.window()
	if a.resets++; a.resets > a.maxResets {
		return errCalm
	}
	return nil
}

// control counts a frame that asks nothing of a stream.
func (a *abuse) control() error {
	a.window()
	if a.ctrl++; a.ctrl > a.maxControl {
		return errCalm
	}
	return nil
}
