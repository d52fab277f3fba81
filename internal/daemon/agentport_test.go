package daemon

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
)

// joinTLS is the TLS configuration of a node joining d: it checks d's
// CA against the join token and presents no certificate.
func joinTLS(t *testing.T, d *Dev) *tls.Config {
	t.Helper()
	tok, err := ca.ParseToken(d.JoinToken())
	if err != nil {
		t.Fatal(err)
	}
	return ca.JoinClientConfig(tok)
}

// The agent port takes no token per connection: a client without one
// could open connections until the process runs out of file
// descriptors, and keep each open forever after one refused request.
// Past AgentMaxConns a connection is closed at once; an idle one is
// closed after the idle timeout.
func TestAgentPortBoundsConnections(t *testing.T) {
	defer func(d time.Duration) { agentIdleTimeout = d }(agentIdleTimeout)
	agentIdleTimeout = 300 * time.Millisecond
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", AgentMaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// ask sends a request without a certificate on c and reads the answer.
	ask := func(c net.Conn) *http.Response {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /agent/v1/routes HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		return resp
	}
	// dial connects over TLS without a certificate, as a joining node.
	dial := func() net.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", d.AgentAddr(), joinTLS(t, d))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closed := func(c net.Conn, within time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(within))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	held := []net.Conn{dial(), dial()}
	for _, c := range held {
		if resp := ask(c); resp.StatusCode != http.StatusUnauthorized || resp.Close {
			t.Fatalf("no certificate: %d (close %v), want 401 kept alive", resp.StatusCode, resp.Close)
		}
	}
	over, err := net.Dial("tcp", d.AgentAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	if !closed(over, 5*time.Second) {
		t.Fatal("a connection past AgentMaxConns was served")
	}
	// Idle after their answer, both are closed after the idle timeout,
	// which frees their places.
	start := time.Now()
	for _, c := range held {
		if !closed(c, 5*time.Second) {
			t.Fatal("an idle agent-port connection was not closed")
		}
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("idle connections closed after %s, want about %s", waited, agentIdleTimeout)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.agentConns.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d agent-port connections still counted once all closed", d.agentConns.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp := ask(dial()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the idle ones closed: %d, want 401", resp.StatusCode)
	}
}

// A request that declares a body and never sends it held its connection
// (and its place under AgentMaxConns) forever: net/http reads up to
// 256 KiB of an unread body, with no deadline, before it answers, even a
// 401 to a client without a token. The agent port answers, and closes
// the connection, once the body timeout passes.
func TestAgentPortCutsAStalledBody(t *testing.T) {
	defer func(d time.Duration) { agentBodyTimeout = d }(agentBodyTimeout)
	agentBodyTimeout = 300 * time.Millisecond
	d, err := StartDev(testCtx(t), DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := tls.Dial("tcp", d.AgentAddr(), joinTLS(t, d))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /agent/v1/register HTTP/1.1\r\nHost: m\r\nContent-Length: 100000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a request whose body stalled: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Errorf("status %d (close %v), want 401 closing the connection", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v, want the connection closed", err)
	}
}

// Connections that never start their TLS handshake held places under
// AgentMaxConns until the handshake timeout: anyone who reaches the port
// could keep agents and Raft peers out with 10-second-old idle
// connections. They now hold at most the unfinished handshakes' places
// (a quarter), the oldest closed to make room.
func TestAgentPortIdleHandshakesLeaveRoom(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", AgentMaxConns: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 100 {
		c, err := net.Dial("tcp", d.AgentAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", d.AgentAddr(), joinTLS(t, d))
	if err != nil {
		t.Fatalf("a joining node behind 100 idle connections: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /agent/v1/routes HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer behind 100 idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401 (no certificate)", resp.StatusCode)
	}
}

// A connection whose handshake is done holds its place for as long as its
// client asks, a refused request at a time, within the idle timeout:
// without a bound per source on the connections that show no
// certificate, one address kept every place, and with them agents and
// Raft peers out, for good. A joining node from another address still
// gets in, and one from the flooding address is closed after its
// handshake rather than served.
func TestAgentPortAnonymousConnectionsBoundedPerSource(t *testing.T) {
	ctx := testCtx(t)
	const places = 40
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", AgentMaxConns: places})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ask := func(c net.Conn) (*http.Response, error) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /agent/v1/routes HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		return resp, nil
	}
	dial := func(local string) (net.Conn, error) {
		dl := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		return tls.DialWithDialer(dl, "tcp", d.AgentAddr(), joinTLS(t, d))
	}
	var served int
	for range places {
		c, err := dial("127.0.0.1")
		if err != nil {
			continue
		}
		defer c.Close()
		if resp, err := ask(c); err == nil && resp.StatusCode == http.StatusUnauthorized {
			served++
		}
	}
	if served > places/4 {
		t.Errorf("%d connections without a certificate served from one address, want at most %d (a quarter of the places)", served, places/4)
	}
	c, err := dial("127.0.0.2")
	if err != nil {
		t.Fatalf("a joining node from another address: %v", err)
	}
	defer c.Close()
	resp, err := ask(c)
	if err != nil {
		t.Fatalf("a joining node from another address got no answer: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401 (no certificate)", resp.StatusCode)
	}
}
