//go:build linux || windows

package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoalproject/shoal/internal/ingress"
)

// reloadOnHangup returns a channel that gets a value at each SIGHUP
// until ctx ends, for the ingress to read its TLS option files again;
// nil, and SIGHUP left alone (it stops the process, as before), when
// the node has none.
func reloadOnHangup(ctx context.Context, files ingress.TLSFiles) <-chan struct{} {
	if files == (ingress.TLSFiles{}) {
		return nil
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		forwardKicks(ctx, sig, out)
	}()
	return out
}

// forwardKicks sends a value to out for each one of in until ctx ends;
// kicks that come while one is pending are one.
func forwardKicks[T any](ctx context.Context, in <-chan T, out chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-in:
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
}
