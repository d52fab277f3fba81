package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/ingress"
)

// DevConfig sets up a one-node cluster.
type DevConfig struct {
	// DataDir holds all state: Raft, task folders, the API socket.
	DataDir string
	// Socket is the API's unix socket; default DataDir/shoal.sock.
	Socket string
	// DockerAPISocket serves the Docker Engine API; default
	// DataDir/docker.sock, DockerAPIOff for none, "tcp://IP:PORT" for
	// TCP with the cluster's mutual TLS, to operators (remote.go).
	DockerAPISocket string
	// APIAddr serves the API on TCP with the cluster's mutual TLS, to
	// operator certificates only (remote.go); empty serves none.
	APIAddr string
	// APIHosts are names and addresses the TCP listeners' certificate
	// holds beside the ones found (apiHosts): what clients dial.
	APIHosts []string
	// MetricsAddr serves /metrics and /sd on TCP to requests bearing
	// MetricsToken; empty serves them only on the API socket.
	MetricsAddr  string
	MetricsToken []byte
	// UIAddr serves the web dashboard on TCP (ui.go); empty serves none.
	UIAddr string
	// Addr is the node's address, where task ports are published;
	// default 127.0.0.1.
	Addr   string
	Logger *slog.Logger
	// HeartbeatPeriod is the agent's heartbeat period.
	HeartbeatPeriod time.Duration
	// IngressAddr is where the HTTP ingress listens ("127.0.0.1:0" picks a
	// port); empty runs no ingress.
	IngressAddr string
	// Docker offers the docker runtime when a Docker Engine answers.
	Docker bool
	// DockerAddr is the address the Docker Engine publishes the node's
	// container ports on; empty: the node's address. Set it when the
	// engine is not in the node's network namespace (nodes that share
	// one host's engine). The tasks' endpoints stay on the node's
	// address, the only one the managers accept from it: the node must
	// forward those ports to DockerAddr.
	DockerAddr string
	// DrainDelay is how long a task that publishes ports stays up after it
	// leaves the ingress pool, before its stop signal.
	DrainDelay time.Duration
	// UnreachableGrace is how long a running task may miss a published
	// port before it is failed (agent.DefaultUnreachableGrace if 0).
	UnreachableGrace time.Duration
	// IngressAccessLog logs every request the ingress serves.
	IngressAccessLog bool
	// IngressRequireEnable routes only services labelled
	// traefik.enable=true (Traefik's exposedByDefault=false).
	IngressRequireEnable bool
	// IngressMaxBodyBytes bounds request bodies (0: unbounded).
	IngressMaxBodyBytes int64
	// IngressMaxConns and IngressIdleTimeout: see IngressConfig.
	IngressMaxConns    int
	IngressIdleTimeout time.Duration
	// IngressResponseHeaderTimeout: see IngressConfig.
	IngressResponseHeaderTimeout time.Duration
	// IngressAllowEncodedSlash and IngressAllowEncodedBackslash let
	// request paths hold %2F and %5C (IngressConfig).
	IngressAllowEncodedSlash, IngressAllowEncodedBackslash bool
	// IngressTLSAddr and IngressCertificates run the ingress's websecure
	// entry point (IngressConfig.TLSAddr).
	IngressTLSAddr      string
	IngressCertificates []tls.Certificate
	// IngressClientCAs: see IngressConfig.ClientCAs.
	IngressClientCAs *x509.CertPool
	// IngressTLSOptions: see IngressConfig.TLSOptions.
	IngressTLSOptions *ingress.TLSOptionSet
	// IngressTLSFiles and IngressTLSReload: see IngressConfig.TLSFiles.
	IngressTLSFiles  ingress.TLSFiles
	IngressTLSReload <-chan struct{}
	// IngressTrustedProxies: see IngressConfig.TrustedProxies.
	IngressTrustedProxies []netip.Prefix
	// Publish runs the routing mesh when its Addr is set: the node
	// listens on every port services publish in ingress mode.
	Publish PublishConfig
	// AgentListen is the TCP address where the manager serves agents of
	// other nodes (`shoal agent`); empty serves none. The link is plain
	// HTTP guarded by the join token: keep it on a trusted network.
	AgentListen string
	// SecretsDir holds the secrets of the node's tasks, on tmpfs;
	// DefaultSecretsDir if empty. StartDev fails when it is not ours and
	// closed to others.
	SecretsDir string
	// DefaultAddrPool and SubnetSize are the address pool networks get
	// their subnets from (Swarm's --default-addr-pool and
	// --default-addr-pool-mask-length), recorded at the cluster's first
	// start. Empty and 0 mean Swarm's 10.0.0.0/8 and 24, and keep the pool
	// of an existing cluster; a pool given that differs from the
	// cluster's fails the start.
	DefaultAddrPool []string
	SubnetSize      int
	// CertExpiry is the life of the node certificates the cluster
	// issues, recorded when it is created; zero means the cluster's (for
	// a new one ca.DefaultCertExpiry). Another value than the cluster's
	// is refused.
	CertExpiry time.Duration
	// OrphanAfter is how long a node stays down before its tasks are
	// marked orphaned, recorded when the cluster is created (zero: the
	// cluster's, state.DefaultOrphanAfter for a new one). Another value
	// than the cluster's is refused.
	OrphanAfter time.Duration
	// AgentMaxConns bounds the connections open at once on the agent
	// port; 0 sizes it from the open-file limit (defaultAgentMaxConns).
	AgentMaxConns int
	// Join is the cluster port of a manager of the cluster this manager
	// joins at its first start, with the manager token JoinToken. It
	// needs AgentListen: the agent port is the cluster port, where the
	// managers speak Raft too (over mutual TLS).
	Join, JoinToken string
	// JoinIdentity, instead of JoinToken, joins a promoted worker node
	// (`node promote`) with its manager certificate: it keeps its node
	// ID (pathPromoted).
	JoinIdentity *ca.NodeIdentity
	// Hostname and Labels: see AgentConfig (a promoted node keeps its).
	Hostname string
	Labels   map[string]string
	// Autolock locks the secrets key of a cluster this start creates
	// with a new unlock key (MadeUnlockKey; else `swarm update`).
	Autolock bool
}
