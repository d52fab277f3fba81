package state

import (
	"fmt"
	"strconv"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

// The allocations live on the objects that hold them (a network's subnet
// and VNI, a service's virtual IPs and published ports, a task's
// addresses), and these indexes make them searchable. So the objects are
// the one source of truth: an aborted command, a removed object and a
// restored snapshot change the allocations with no table to keep in step.

// keysIndex indexes an object by every key keys returns; none leaves it
// out of the index.
type keysIndex struct{ keys func(obj any) []string }

func (x keysIndex) FromObject(obj any) (bool, [][]byte, error) {
	keys := x.keys(obj)
	if len(keys) == 0 {
		return false, nil, nil
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k + "\x00")
	}
	return true, out, nil
}

func (keysIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("index takes one key argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("index: argument %T, want string", args[0])
	}
	return []byte(s + "\x00"), nil
}

// addrKey is the index key of an address on a network.
func addrKey(networkID, ip string) string { return networkID + "/" + ip }

// portKey is the index key of a published port: "8080/tcp".
func portKey(port uint32, proto string) string {
	return strconv.FormatUint(uint64(port), 10) + "/" + proto
}

// taskAddrKeys are the addresses a task holds: those of a task that has
// not ended. An ended task keeps its attachments for `service ps`, but its
// addresses are free again (its history would otherwise hold up to five
// addresses per replica and fill a /24).
func taskAddrKeys(t *api.Task) []string {
	if t.Status.State.Terminal() {
		return nil
	}
	var keys []string
	for _, a := range t.NetworksAttachments {
		for _, cidr := range a.Addresses {
			keys = append(keys, addrKey(a.Network.ID, ipOf(cidr)))
		}
	}
	return keys
}

// taskNetworkKeys are the networks a task that has not ended is on.
func taskNetworkKeys(t *api.Task) []string {
	if t.Status.State.Terminal() {
		return nil
	}
	var keys []string
	for _, a := range t.NetworksAttachments {
		keys = append(keys, a.Network.ID)
	}
	return keys
}

// serviceVIPKeys are a service's virtual IPs.
func serviceVIPKeys(obj any) []string {
	s := obj.(*api.Service)
	if s.Endpoint == nil {
		return nil
	}
	var keys []string
	for _, v := range s.Endpoint.VirtualIPs {
		keys = append(keys, addrKey(v.NetworkID, ipOf(v.Addr)))
	}
	return keys
}

// servicePortKeys are the ports a service publishes.
func servicePortKeys(obj any) []string {
	s := obj.(*api.Service)
	if s.Endpoint == nil {
		return nil
	}
	var keys []string
	for _, p := range s.Endpoint.Ports {
		if p.PublishedPort != 0 {
			keys = append(keys, portKey(p.PublishedPort, p.Proto()))
		}
	}
	return keys
}

// networkVNIKeys is a network's VXLAN ID.
func networkVNIKeys(obj any) []string {
	n := obj.(*api.Network)
	if n.DriverState == nil || n.DriverState.VNI == 0 {
		return nil
	}
	return []string{strconv.FormatUint(uint64(n.DriverState.VNI), 10)}
}

// networksTable is the networks' table: named objects, searchable by VNI.
func networksTable() *memdb.TableSchema {
	t := namedTable(tableNetworks)
	t.Indexes["vni"] = &memdb.IndexSchema{Name: "vni", AllowMissing: true, Indexer: keysIndex{networkVNIKeys}}
	return t
}
