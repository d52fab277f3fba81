package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/connlimit"
)

// RaftProto is the ALPN protocol name of Raft connections on a manager's
// cluster port. The port serves the agent link (HTTP/1.1) too; a
// connection says in its TLS handshake which of the two it speaks.
const RaftProto = "shoal-raft/1"

// httpProto is the ALPN name of everything else on the cluster port.
const httpProto = "http/1.1"

// handshakeTimeout bounds a connection's TLS handshake on the cluster
// port: a client that connects and says nothing holds a place no longer.
var handshakeTimeout = 10 * time.Second

// PeerCheck says whether the manager nodeID (its certificate's CN, the
// certificate already verified) may speak Raft with this one now; the
// error says why not.
type PeerCheck func(nodeID string) error

// errNoPeerCheck refuses every peer until the manager says who its peers
// are (SetPeerCheck).
var errNoPeerCheck = errors.New("raft: this manager does not know its peers yet")

// TLSStream is Raft's StreamLayer over mutual TLS 1.3: it dials other
// managers with this manager's certificate and accepts the connections a
// Port hands it, which presented a manager certificate of this cluster.
// A certificate alone is not enough: hashicorp/raft answers
// AppendEntries, InstallSnapshot and TimeoutNow from anyone, so the
// stream also asks its PeerCheck about the peer's node, when the
// connection is made, either way, and at every read, so that a peer
// revoked meanwhile (demoted, removed) loses the connections it holds.
type TLSStream struct {
	addr   net.Addr
	client func() (*tls.Config, error)
	check  atomic.Pointer[PeerCheck]
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once

	// open holds the connections handed to Raft: Close closes them, or
	// Raft's readers would wait on them until the peers hang up.
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

var _ raft.StreamLayer = (*TLSStream)(nil)

// NewTLSStream returns the stream layer of the manager advertised at
// addr (its cluster port, as the others dial it). client gives the TLS
// configuration of each dial: RaftClientConfig of the manager's current
// certificate.
func NewTLSStream(addr net.Addr, client func() (*tls.Config, error)) *TLSStream {
	return &TLSStream{addr: addr, client: client, conns: make(chan net.Conn), done: make(chan struct{}), open: map[net.Conn]struct{}{}}
}

// SetPeerCheck sets who may speak Raft with this manager; until it is
// set, nobody may.
func (s *TLSStream) SetPeerCheck(f PeerCheck) { s.check.Store(&f) }

// peerNode is the node ID of c's verified peer certificate (its CN).
func peerNode(c *tls.Conn) (string, error) {
	chain := c.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return "", errors.New("raft: the peer showed no certificate")
	}
	return chain[0].Subject.CommonName, nil
}

// allowed asks the peer check about node.
func (s *TLSStream) allowed(node string) error {
	f := s.check.Load()
	if f == nil {
		return errNoPeerCheck
	}
	if err := (*f)(node); err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	return nil
}

// checked returns c as a checkedConn, or why its peer may not speak Raft.
func (s *TLSStream) checked(c *tls.Conn) (*checkedConn, error) {
	node, err := peerNode(c)
	if err == nil {
		err = s.allowed(node)
	}
	if err != nil {
		return nil, err
	}
	return &checkedConn{Conn: c, s: s, node: node}, nil
}

// Accept returns the next Raft connection the port verified.
func (s *TLSStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and closes the connections it handed out.
func (s *TLSStream) Close() error {
	s.once.Do(func() { close(s.done) })
	s.mu.Lock()
	open := s.open
	s.open = nil
	s.mu.Unlock()
	for c := range open {
		c.Close()
	}
	return nil
}

// Addr is the address the other managers dial.
func (s *TLSStream) Addr() net.Addr { return s.addr }

// Dial connects to the manager at address with this manager's
// certificate; the handshake fails unless the other end shows a manager
// certificate of this cluster and agrees to speak Raft.
func (s *TLSStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conf, err := s.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: conf}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft: dial manager %s: %w", address, err)
	}
	cc, err := s.checked(c.(*tls.Conn))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("raft: dial manager %s: %w", address, err)
	}
	return cc, nil
}

// offer hands an accepted, verified connection to Raft: an error when
// the peer check refuses its peer, net.ErrClosed when the stream is
// closed.
func (s *TLSStream) offer(c *tls.Conn) error {
	cc, err := s.checked(c)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.open == nil {
		s.mu.Unlock()
		return net.ErrClosed
	}
	tc := &trackedConn{checkedConn: *cc}
	s.open[tc] = struct{}{}
	s.mu.Unlock()
	select {
	case s.conns <- tc:
		return nil
	case <-s.done:
		tc.Close()
		return net.ErrClosed
	}
}

// checkedConn is a Raft connection whose peer is checked again at every
// read, once its bytes came: a peer revoked while connected (a read may
// wait for it for long) gets no byte more to Raft.
type checkedConn struct {
	*tls.Conn
	s    *TLSStream
	node string
}

func (c *checkedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		if cerr := c.s.allowed(c.node); cerr != nil {
			c.Conn.Close()
			return 0, cerr
		}
	}
	return n, err
}

// trackedConn leaves its stream's set when closed.
type trackedConn struct {
	checkedConn
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	if c.s.open != nil {
		delete(c.s.open, c)
	}
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// RaftClientConfig is the TLS configuration a manager dials another's
// Raft with: ca.ClientConfig (its certificate; the peer must show a
// manager certificate of the cluster) asking for RaftProto, which the
// peer must accept.
func RaftClientConfig(id *ca.NodeIdentity) *tls.Config {
	conf := ca.ClientConfig(id)
	conf.NextProtos = []string{RaftProto}
	verify := conf.VerifyConnection
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.NegotiatedProtocol != RaftProto {
			return fmt.Errorf("the manager does not speak %s on this port", RaftProto)
		}
		return verify(cs)
	}
	return conf
}

// PortConfig returns the server TLS configuration of a manager's cluster
// port from base (ca.ServerConfig or SelfCert.ServerConfig without a
// required certificate: a joining node has none): HTTP/1.1 for the agent
// link, and RaftProto only for a client that shows a manager certificate
// of the roots trust gives (a CA rotation changes them). A worker's
// certificate, another cluster's, or none ends the handshake before a
// byte of Raft is read.
func PortConfig(base *tls.Config, trust func() *ca.RootCA) *tls.Config {
	port := func(conf *tls.Config) *tls.Config {
		conf = conf.Clone()
		conf.NextProtos = []string{RaftProto, httpProto}
		verify := conf.VerifyConnection
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if verify != nil {
				if err := verify(cs); err != nil {
					return err
				}
			}
			if cs.NegotiatedProtocol != RaftProto {
				return nil
			}
			id, err := trust().Verify(cs.PeerCertificates, time.Now())
			if err != nil {
				return fmt.Errorf("raft: %w", err)
			}
			if id.Role != ca.RoleManager {
				return fmt.Errorf("raft: node %s is a %s: only managers speak Raft", id.NodeID, id.Role)
			}
			return nil
		}
		return conf
	}
	get := base.GetConfigForClient
	if get == nil {
		return port(base)
	}
	// The configuration is made per handshake: the port's additions go on
	// each.
	out := base.Clone()
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		conf, err := get(hello)
		if err != nil || conf == nil {
			return conf, err
		}
		return port(conf), nil
	}
	return out
}

// Port serves a manager's cluster port: it completes each connection's
// TLS handshake (PortConfig decides who may speak Raft), then hands Raft
// connections to a TLSStream and the others to HTTP, the listener it
// returns from HTTP.
type Port struct {
	ln    net.Listener
	conf  *tls.Config
	raft  *TLSStream
	log   *slog.Logger
	httpc chan net.Conn
	// hs bounds the unfinished handshakes (apart from ln's limit, which
	// counts every connection): connections that never finish theirs
	// must not keep agents and Raft peers out; anon those done without a
	// certificate, per source (nil: unbounded).
	hs   *connlimit.Handshakes
	anon *connlimit.Sources
	// ctx ends when the port closes: handshakes under way end with it.
	ctx    context.Context
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup
}

// NewPort serves ln (which should bound its connections: connlimit) with
// conf (PortConfig), handing Raft connections to stream; Close ends it.
// lim bounds the connections of ln in their handshake and those that
// showed no certificate (PortLimits), well under ln's own bound.
func NewPort(ln net.Listener, conf *tls.Config, stream *TLSStream, lim PortLimits, log *slog.Logger) *Port {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Port{ln: ln, conf: conf, raft: stream, log: log, httpc: make(chan net.Conn), ctx: ctx, cancel: cancel, done: ctx.Done(),
		hs: lim.Handshakes, anon: lim.Anonymous}
	if p.hs == nil {
		p.hs = &connlimit.Handshakes{Log: log, Name: "cluster port"}
	}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *Port) serve() {
	defer p.wg.Done()
	connlimit.AcceptLoop(p.ctx, p.ln, p.log.With("listener", "cluster port"), func(c net.Conn) {
		pending := p.hs.Begin(c)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handshake(c, pending)
		}()
	})
}

// handshake completes c's handshake within handshakeTimeout, in its
// place among the unfinished ones, and hands it on by the protocol it
// chose.
func (p *Port) handshake(raw net.Conn, pending *connlimit.Pending) {
	hooked := &releaseConn{Conn: raw}
	c := tls.Server(hooked, p.conf)
	ctx, cancel := context.WithTimeout(p.ctx, handshakeTimeout)
	defer cancel()
	err := c.HandshakeContext(ctx)
	pending.End()
	if err != nil {
		p.log.Debug("cluster port: handshake failed", "remote", raw.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	if p.anon != nil && len(c.ConnectionState().PeerCertificates) == 0 {
		release, ok := p.anon.Admit(raw)
		if !ok {
			c.Close()
			return
		}
		hooked.release.Store(&release)
	}
	var ok bool
	if c.ConnectionState().NegotiatedProtocol == RaftProto {
		err := p.raft.offer(c)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			p.log.Warn("cluster port: raft connection refused", "remote", raw.RemoteAddr(), "err", err)
		}
		ok = err == nil
	} else {
		select {
		case p.httpc <- c:
			ok = true
		case <-p.done:
		}
	}
	if !ok {
		c.Close()
	}
}

// PortLimits bound a Port's connections apart from its listener's bound
// on all of them.
type PortLimits struct {
	// Handshakes bounds those whose handshake is unfinished (nil:
	// connlimit's defaults).
	Handshakes *connlimit.Handshakes
	// Anonymous bounds, per source, those that showed no certificate
	// (joining nodes, or anyone): they may hold their places as long as
	// they keep asking, a refused request at a time (nil: unbounded).
	Anonymous *connlimit.Sources
}

// releaseConn is a connection that gives back its place among
// Anonymous at its first Close, once one is set.
type releaseConn struct {
	net.Conn
	release atomic.Pointer[func()]
}

func (c *releaseConn) Close() error {
	err := c.Conn.Close()
	if r := c.release.Swap(nil); r != nil {
		(*r)()
	}
	return err
}

// HTTP is the listener of the port's agent-link connections, their TLS
// handshake done (serve it with http.Server.Serve, not ServeTLS).
func (p *Port) HTTP() net.Listener { return portListener{p} }

// Addr is the port's address.
func (p *Port) Addr() net.Addr { return p.ln.Addr() }

// Close stops accepting and waits for the handshakes under way.
func (p *Port) Close() error {
	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

type portListener struct{ p *Port }

func (l portListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.p.httpc:
		return c, nil
	case <-l.p.done:
		return nil, net.ErrClosed
	}
}

func (l portListener) Close() error   { return l.p.Close() }
func (l portListener) Addr() net.Addr { return l.p.ln.Addr() }

// NewTLSTransport returns the Raft transport of a manager over stream.
func NewTLSTransport(stream *TLSStream, log *slog.Logger) Transport {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hclog.New(&hclog.LoggerOptions{Name: "raft-net", Level: hclog.Error, Output: &slogWriter{l: log}}),
	})
}
