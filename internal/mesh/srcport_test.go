package mesh

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

// vxlanDatagram is a VXLAN packet's payload: a UDP datagram from src to
// dst:port, in an Ethernet frame to dst's MAC, on VNI vni.
func vxlanDatagram(vni uint32, src, dst netip.Addr, port uint16) []byte {
	payload := []byte("forged")
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 4242)
	binary.BigEndian.PutUint16(udp[2:], port)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...) // checksum 0: none, as IPv4 allows
	ip := make([]byte, 20, 20+len(udp))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	copy(ip[12:], src.AsSlice())
	copy(ip[16:], dst.AsSlice())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	ip = append(ip, udp...)
	frame := append(append(append([]byte{}, macFor(dst)...), 0x02, 0x42, 0, 0, 0, 1), 0x08, 0x00)
	frame = append(frame, ip...)
	hdr := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return append(hdr, frame...)
}

// VXLAN comes from a node's kernel, whose VXLAN devices send from source
// ports below 1024, which only root may bind: a user of a node the
// cluster lists (a task on the host's network, any local login) could
// otherwise bind the node's address and send VXLAN with any network's VNI
// to every other node, putting frames on its networks, internal ones
// included.
func TestVXLANFromAnUnprivilegedPortIsDropped(t *testing.T) {
	n1, n2, _, t2 := twoNodesWithTasks(t)
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2")); err != nil {
		t.Fatal(err)
	}
	got := sink(t, t2, "10.10.1.3:9999")
	sendFrom := func(sport int, inner string) {
		t.Helper()
		if err := in(t, n1.ns, func() error {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.99.0.1"), Port: sport}, &net.UDPAddr{IP: net.ParseIP("10.99.0.2"), Port: 4790})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(vxlanDatagram(netA.VNI, netip.MustParseAddr(inner), netip.MustParseAddr("10.10.1.3"), 9999))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A few of each: a first frame is at times lost on the way in.
	for range 3 {
		sendFrom(40000, "10.10.1.66") // an unprivileged user's
	}
	for range 3 {
		sendFrom(900, "10.10.1.77") // root's: the same packet is taken
		time.Sleep(100 * time.Millisecond)
	}
	froms := map[string]bool{next(t, got): true}
	for done := time.After(dialTimeout); ; {
		select {
		case from := <-got:
			froms[from] = true
			continue
		case <-done:
		}
		break
	}
	if froms["10.10.1.66"] || !froms["10.10.1.77"] {
		t.Fatalf("t2 got datagrams from %v, want only those sent from a privileged port", froms)
	}
}
