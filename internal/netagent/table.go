//go:build linux

package netagent

import (
	"fmt"
	"os"

	"github.com/google/nftables"
)

// rewriteTable replaces the table name (family ip) in the namespace at
// nsPath, in one transaction: a fresh table whether or not one was there,
// with a chain "out" on the nat output hook (before routing's second
// look, as DNAT needs), which fill fills.
func rewriteTable(nsPath, name string, fill func(c *nftables.Conn, t *nftables.Table, out *nftables.Chain) error) error {
	f, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("table %s in %s: %w", name, nsPath, err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		return fmt.Errorf("table %s in %s: nftables: %w", name, nsPath, err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
	// Add then delete then add: fresh, whether an earlier agent left one
	// or not.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	out := c.AddChain(&nftables.Chain{Name: "out", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	if err := fill(c, t, out); err != nil {
		return fmt.Errorf("table %s in %s: %w", name, nsPath, err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("table %s in %s: %w", name, nsPath, err)
	}
	return nil
}
