package mesh

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/nsthread"
)

// Node plumbs the networks and tasks of one node. Its only state is the
// kernel's: every link it makes carries an alias naming its network or
// task, so a Node made after an agent restart sees what the last one made.
// The methods are safe for concurrent use; they run one at a time.
type Node struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex     // serialises kernel changes
	ns netns.NsHandle // the node's network namespace
	nl *netlink.Handle
}

// New returns a Node that plumbs the namespace cfg.NetNS. Close it when
// done.
func New(cfg Config) (*Node, error) {
	if !cfg.VTEP.IsValid() || !cfg.VTEP.Is4() {
		return nil, fmt.Errorf("mesh: VTEP address %v is not an IPv4 address; give the node's address that other nodes reach", cfg.VTEP)
	}
	if cfg.VXLANPort == 0 {
		cfg.VXLANPort = DefaultVXLANPort
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > 65535-50 {
		return nil, fmt.Errorf("mesh: MTU %d is outside 576–65485", cfg.MTU)
	}
	if cfg.NamespaceDir == "" {
		cfg.NamespaceDir = DefaultNamespaceDir
	}
	if cfg.NetNS == "" {
		// The process's own namespace: its main thread's.
		cfg.NetNS = "/proc/self/ns/net"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ns, err := netns.GetFromPath(cfg.NetNS)
	if err != nil {
		return nil, fmt.Errorf("mesh: open node namespace %s: %w", cfg.NetNS, err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("mesh: netlink in %s: %w", cfg.NetNS, err)
	}
	return &Node{cfg: cfg, log: log, ns: ns, nl: nl}, nil
}

// Close releases the Node's handles; the plumbing stays.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nl.Close()
	return n.ns.Close()
}

// nft returns an nftables connection in the node's namespace.
func (n *Node) nft() (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", n.cfg.NetNS, err)
	}
	return c, nil
}

// dumpRetries bounds the retries of a netlink dump the kernel interrupted
// (it changed while being listed).
const dumpRetries = 5

// links lists the links of the namespace h works in.
func links(h *netlink.Handle) ([]netlink.Link, error) {
	ls, err := retryDump(h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	return ls, nil
}

// neighbours lists the neighbour entries of family on a link.
func neighbours(h *netlink.Handle, index, family int) ([]netlink.Neigh, error) {
	ns, err := retryDump(func() ([]netlink.Neigh, error) { return h.NeighList(index, family) })
	if err != nil {
		return nil, fmt.Errorf("list neighbours: %w", err)
	}
	return ns, nil
}

// addresses lists the addresses of family on link.
func addresses(h *netlink.Handle, link netlink.Link, family int) ([]netlink.Addr, error) {
	return retryDump(func() ([]netlink.Addr, error) { return h.AddrList(link, family) })
}

// retryDump runs a netlink dump again when the kernel interrupted it
// (what it listed changed meanwhile), at most dumpRetries times.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		out, err := dump()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		return out, err
	}
}

// inNamespace runs fn on an OS thread switched to the network namespace ns,
// for the few things netlink handles cannot do (sysctls under /proc/sys/net,
// which show the namespace of the thread that opens them).
func inNamespace(ns netns.NsHandle, fn func() error) error {
	return nsthread.Run(func() error { return netns.Set(ns) }, fn)
}

// enableForwarding turns on IPv4 forwarding in the node's namespace, which
// egress and the routing mesh need.
func (n *Node) enableForwarding() error {
	const p = "/proc/sys/net/ipv4/ip_forward"
	return inNamespace(n.ns, func() error {
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 0 && b[0] == '1' {
			return nil
		}
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enable forwarding: %w", err)
		}
		return nil
	})
}

// isGone reports whether a delete failed because the thing was already
// gone.
func isGone(err error) bool {
	var notFound netlink.LinkNotFoundError
	return errors.As(err, &notFound) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ESRCH)
}
