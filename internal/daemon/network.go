package daemon

import (
	"context"
	"fmt"

	"github.com/shoalproject/shoal/internal/allocator"
)

// initAddrPool records the cluster's address pool and certificate life
// at its first start, and checks that those given later are the
// cluster's.
func (d *Dev) initAddrPool(ctx context.Context, cfg DevConfig) error {
	pools, size := cfg.DefaultAddrPool, cfg.SubnetSize
	explicit := len(pools) > 0 || size != 0
	if len(pools) == 0 {
		pools = []string{allocator.DefaultPool}
	}
	if size == 0 {
		size = allocator.DefaultSubnetSize
	}
	if err := d.mgr.InitCluster(ctx, pools, size, explicit, cfg.CertExpiry, cfg.OrphanAfter); err != nil {
		return fmt.Errorf("cluster configuration: %w", err)
	}
	return nil
}
