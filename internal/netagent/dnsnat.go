//go:build linux

package netagent

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// dnsTable is the table, in each task's namespace, that sends the task's
// queries to 127.0.0.11:53 to the ports the resolver's sockets there got.
// The sockets do not hold port 53 themselves, so a task may bind *:53
// (its own DNS server) as in Docker.
const dnsTable = "shoal-dns"

// redirectDNS (re)writes the task's DNS table, in one transaction:
//
//	table ip shoal-dns { chain out { type nat hook output priority -100
//	  ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:UDP
//	  ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:TCP } }
//
// The rule stays within loopback: conntrack un-NATs the replies.
func redirectDNS(nsPath string, udpPort, tcpPort uint16) error {
	return rewriteTable(nsPath, dnsTable, func(c *nftables.Conn, t *nftables.Table, out *nftables.Chain) error {
		ip := ResolverAddr.AsSlice()
		for _, r := range []struct {
			proto byte
			port  uint16
		}{{unix.IPPROTO_UDP, udpPort}, {unix.IPPROTO_TCP, tcpPort}} {
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.proto}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(53)},
				&expr.Immediate{Register: 1, Data: ip},
				&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.port)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
			}})
		}
		return nil
	})
}
