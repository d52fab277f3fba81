// Package nsthread runs code on an OS thread switched into another
// network namespace, and switches the thread back.
package nsthread

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run runs enter, which switches the thread's network namespace, then fn
// (if any), on a locked OS thread, and switches the thread back. If the
// thread cannot be switched back it is left locked, so the Go runtime
// ends it rather than reuse it in the wrong namespace.
func Run(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get thread namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := enter(); err != nil {
			// enter failed: the thread may be anywhere.
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		var ferr error
		if fn != nil {
			ferr = fn()
		}
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to namespace: %w", err))
			return // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
