package demo

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/shoalproject/shoal/client"
)

// NetworkVNIs returns the VXLAN IDs of the demo's networks, for
// WaitPlumbingGone once they are removed.
func NetworkVNIs(ctx context.Context, c *client.Client) []uint32 {
	var vnis []uint32
	for _, n := range Networks {
		if nw, err := c.NetworkInspect(ctx, n); err == nil && nw.DriverState != nil && nw.Spec.Labels["shoal.demo"] == "signup" {
			vnis = append(vnis, nw.DriverState.VNI)
		}
	}
	return vnis
}

// WaitPlumbingGone waits until this host holds no bridge or VXLAN link
// of the networks vnis (internal/mesh names them shbr-VNI and shvx-VNI):
// a node removes a network's links and rules soon after the network is
// removed, but a node closed before that keeps them, for its restart to
// adopt. A demo on a cluster it started waits here before stopping it.
func WaitPlumbingGone(ctx context.Context, vnis []uint32) error {
	for {
		var left []string
		for _, v := range vnis {
			for _, name := range []string{fmt.Sprintf("shbr-%d", v), fmt.Sprintf("shvx-%d", v)} {
				if _, err := net.InterfaceByName(name); err == nil {
					left = append(left, name)
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the node still holds the links %v of the demo's networks: %w", left, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
