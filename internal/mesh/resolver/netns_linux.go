package resolver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenInNamespace opens a UDP socket and a TCP listener on addr (such as
// "127.0.0.11:53") inside the network namespace at nsPath (/proc/PID/ns/net
// or a bind mount of it), for Serve to answer from the caller's own
// namespace. A socket belongs to the namespace it was made in, so this
// gives each task its resolver at 127.0.0.11 with no NAT, while lookups
// and forwarding run in the agent. Set the returned Listener's Task to the
// task's ID: queries there come from loopback. The namespace's loopback
// must be up.
func ListenInNamespace(nsPath, addr string) (Listener, error) {
	type result struct {
		l   Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters the task's namespace, so it is locked to this
		// goroutine, and unlocked only once it is back: if it cannot
		// return, the goroutine ends locked and the runtime discards the
		// thread rather than run other goroutines in the wrong namespace.
		runtime.LockOSThread()
		l, restored, err := listenIn(nsPath, addr)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{l, err}
	}()
	res := <-done
	return res.l, res.err
}

// listenIn runs on a locked thread; restored reports whether the thread is
// back in its own namespace.
func listenIn(nsPath, addr string) (l Listener, restored bool, err error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return l, true, fmt.Errorf("dns listen in %s: own namespace: %w", nsPath, err)
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return l, true, fmt.Errorf("dns listen in %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return l, true, fmt.Errorf("dns listen in %s: enter namespace: %w", nsPath, err)
	}
	defer func() {
		if e := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); e != nil {
			closeListener(l)
			l, restored = Listener{}, false
			err = fmt.Errorf("dns listen in %s: return to own namespace: %w", nsPath, e)
			return
		}
		restored = true
	}()
	if l.UDP, err = net.ListenPacket("udp4", addr); err != nil {
		return l, false, listenErr(nsPath, err)
	}
	if l.TCP, err = net.Listen("tcp4", addr); err != nil {
		closeListener(l)
		return Listener{}, false, listenErr(nsPath, err)
	}
	return l, false, nil
}

func listenErr(nsPath string, err error) error {
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("dns listen in %s: %w (is the namespace's loopback up?)", nsPath, err)
	}
	return fmt.Errorf("dns listen in %s: %w", nsPath, err)
}

func closeListener(l Listener) {
	if l.UDP != nil {
		_ = l.UDP.Close()
	}
	if l.TCP != nil {
		_ = l.TCP.Close()
	}
}
