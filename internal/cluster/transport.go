package cluster

import (
	"io"

	"github.com/hashicorp/raft"
)

// Transport carries Raft's RPCs between the managers of a cluster.
//
// A one-manager cluster has no one to talk to, so it uses LocalTransport,
// which opens no port at all: a Raft port that accepts RPCs from anyone
// lets one forged AppendEntries write any command into the log. When a
// cluster has several managers, their transport must authenticate both
// ends (mutual TLS) before a single RPC is read; that transport plugs in
// here, through Config.Transport.
type Transport interface {
	raft.Transport
	io.Closer
}

// LocalAddress is the Raft address of a manager on LocalTransport. It is a
// label, not a network address: nothing can dial it.
const LocalAddress raft.ServerAddress = "local"

// LocalTransport returns the transport of a one-manager cluster: an
// in-memory one with no peers, reachable from nothing outside this Raft.
func LocalTransport() Transport {
	_, t := raft.NewInmemTransport(LocalAddress)
	return t
}
