package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/allocator"
	"github.com/shoalproject/shoal/internal/state"
)

// validateIPAM checks the subnet and gateway a network spec asks for, so a
// mistake is a 400 that names it before anything is proposed.
func validateIPAM(spec *api.NetworkSpec) error {
	ipam := spec.IPAM
	if ipam == nil {
		return nil
	}
	bad := func(err error) error { return fmt.Errorf("%w: network %s: %w", ErrInvalid, spec.Name, err) }
	if ipam.Driver != "" && ipam.Driver != api.DefaultIPAMDriver {
		return bad(fmt.Errorf("IPAM driver %q: only %q is supported", ipam.Driver, api.DefaultIPAMDriver))
	}
	if len(ipam.Config) > 1 {
		return bad(fmt.Errorf("%d subnets given: a network has one subnet", len(ipam.Config)))
	}
	for _, c := range ipam.Config {
		if c.Subnet == "" {
			if c.Gateway != "" {
				return bad(fmt.Errorf("gateway %s without a subnet: give --subnet too", c.Gateway))
			}
			continue
		}
		subnet, err := allocator.ParseSubnet(c.Subnet)
		if err != nil {
			return bad(err)
		}
		if c.Gateway != "" {
			if _, err := allocator.ParseGateway(c.Gateway, subnet); err != nil {
				return bad(err)
			}
		}
	}
	return nil
}

// InitAddrPool records the cluster's address pool, unless the cluster
// has one: the first start of a cluster writes it. A cluster created with
// another pool refuses an explicit one (the operator gave flags), and
// keeps its own when the pool is only the default.
func (m *Manager) InitAddrPool(ctx context.Context, pools []string, subnetSize int, explicit bool) error {
	return m.InitCluster(ctx, pools, subnetSize, explicit, 0, 0)
}

// InitCluster is InitAddrPool that also records the life of the node
// certificates (certExpiry, when not zero) at the cluster's creation,
// and how long a node stays down before its tasks are orphaned
// (orphanAfter, when not zero), and refuses others later.
func (m *Manager) InitCluster(ctx context.Context, pools []string, subnetSize int, explicit bool, certExpiry, orphanAfter time.Duration) error {
	if _, err := allocator.ParsePool(pools, subnetSize); err != nil {
		return err
	}
	op := state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: pools, SubnetSize: uint32(subnetSize), Explicit: explicit, CertExpiry: certExpiry, OrphanAfter: orphanAfter}}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{op}})
	if err != nil {
		return fmt.Errorf("record the address pool: %w", err)
	}
	if errors.Is(res.Err, state.ErrPoolFixed) {
		return res.Err
	}
	if res.Err != nil {
		return fmt.Errorf("record the address pool: %w", res.Err)
	}
	return nil
}
