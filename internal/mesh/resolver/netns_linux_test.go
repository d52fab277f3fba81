package resolver

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/testutil"
)

// testNetns is a network namespace held by a locked thread, with its
// loopback up, standing for a task's sandbox.
type testNetns struct {
	path string
	run  chan func()
}

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	testutil.RequireRoot(t)
	ns := &testNetns{run: make(chan func())}
	ready := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		// Never unlocked: the thread ends with the goroutine, and with it
		// the namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare: %w", err)
			return
		}
		ns.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		ready <- loopbackUp()
		for f := range ns.run {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(ns.run)
		<-exited
	})
	return ns
}

// do runs f in the namespace.
func (ns *testNetns) do(f func()) {
	done := make(chan struct{})
	ns.run <- func() { f(); close(done) }
	<-done
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// TestListenInNamespace: sockets opened in a task's namespace at
// 127.0.0.11:53 and served from the test's own namespace answer the task's
// queries, cluster and forwarded, while the host has nothing at that address.
func TestListenInNamespace(t *testing.T) {
	ns := newTestNetns(t)
	u := startUpstream(t)
	r := newResolver(t, Config{}, u, testSnapshot())
	l, err := ListenInNamespace(ns.path, "127.0.0.11:53")
	if err != nil {
		t.Fatal(err)
	}
	l.Task = "tb1"
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, l) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	for _, proto := range []string{"udp", "tcp"} {
		var conn net.Conn
		var dialErr error
		ns.do(func() { conn, dialErr = net.DialTimeout(proto, "127.0.0.11:53", 5*time.Second) })
		if dialErr != nil {
			t.Fatalf("%s: dial from the namespace: %v", proto, dialErr)
		}
		co := &dns.Conn{Conn: conn}
		ask := func(name string) *dns.Msg {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if err := co.WriteMsg(new(dns.Msg).SetQuestion(name, dns.TypeA)); err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			resp, err := co.ReadMsg()
			if err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			return resp
		}
		if got := addrs(ask("a.")); !slices.Equal(got, []string{"10.0.1.2"}) {
			t.Errorf("%s: a = %v, want the VIP", proto, got)
		}
		// Forwarded from the host's namespace, where the upstream is.
		if got := addrs(ask("example.com.")); !slices.Equal(got, []string{"192.0.2.1"}) {
			t.Errorf("%s: example.com = %v, want the upstream's answer", proto, got)
		}
		_ = conn.Close()
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.11:53", time.Second); err == nil {
		c.Close()
		t.Error("127.0.0.11:53 answers in the host's namespace; want it only in the task's")
	}
}

// TestListenInNamespaceMissing: a namespace that is gone is an error
// naming it, and the thread that tried is usable again.
func TestListenInNamespaceMissing(t *testing.T) {
	const gone = "/proc/self/ns/nonexistent"
	if _, err := ListenInNamespace(gone, "127.0.0.11:53"); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("missing namespace: %v, want an error naming %s", err, gone)
	}
}
