// Package mesh is the node side of shoal's overlay networks: the kernel
// plumbing an agent does so that tasks on a network reach each other, on
// one node and across nodes, and (unless the network is internal) the
// outside world.
//
// Per network, on each node that runs one of its tasks:
//
//   - a bridge, shbr-<VNI>, holding the network's gateway address;
//   - a VXLAN device, shvx-<VNI>, a port of the bridge, with learning off
//     and ARP proxying on: SetPeers writes, from cluster state, a neighbour
//     entry and a forwarding entry for each task on another node, so no
//     multicast or flooding crosses the overlay (flannel's and Swarm's
//     design);
//   - rules in the nftables table "inet shoal": nothing new enters a
//     network from elsewhere unless DNATed, internal networks neither send
//     nor receive past their bridge, other networks are masqueraded on the
//     way out; and accept rules for the bridge in iptables-nft's filter
//     table (Docker's FORWARD policy is drop). The same table takes VXLAN
//     packets only from the nodes this node has peers on.
//
// Per task, Attach makes a veth per network: the host side a port of the
// bridge, the other side eth0, eth1… in the task's namespace, with the
// task's address and a MAC derived from it. Containers bring the namespace
// their engine made (network mode none); process tasks get one from
// NewNamespace.
//
// The kernel is the only state: each link's alias names its network or
// task, so a Node made after an agent restart finds the plumbing, and Sync
// turns whatever is there into the desired state. A Node works on an
// explicit network namespace (Config.NetNS) through netlink and nftables
// handles, never by switching the calling goroutine's thread, which is how
// the tests run whole nodes in namespaces of their own.
package mesh
