// Package agentlink carries the conversation between an agent and the
// managers over HTTP/JSON, for agents on other machines: a manager serves
// it on a TCP port (Server) and an agent uses it as its agent.Manager
// (Client).
//
// The conversation is the dispatcher's, one request per call: register,
// then long-poll the assignments, report task status, heartbeat, and
// close. A second, read-only stream gives a node's ingress, routing mesh
// and overlay networking the services, tasks, networks and node addresses
// they follow.
//
// The link is HTTP over TLS 1.3 with client certificates (internal/ca): a
// new node joins once with the join token, sending a certificate request,
// and gets its node ID and certificate; every later request is
// authenticated by that certificate, and the node a request speaks for is
// the certificate's, never what the request says.
package agentlink

import (
	"time"

	"github.com/shoalproject/shoal/api"
)

// The endpoints, under one prefix so that they never collide with the
// cluster API's /v1.
const (
	pathJoin     = "/agent/v1/join"
	pathRegister = "/agent/v1/register"
	pathSessions = "/agent/v1/sessions/"
	pathRoutes   = "/agent/v1/routes"
	suffixAssign = "/assignments"
	suffixReport = "/report"
	suffixBeat   = "/heartbeat"
	// headerInstance names the agent process (its Client) a request
	// comes from: the same agent registering again replaces its session,
	// another agent of the same node does not.
	headerInstance = "Shoal-Agent-Instance"
	// headerIngressSecrets on a routes request asks for the secrets the
	// services' labels read (the node runs an ingress).
	headerIngressSecrets = "Shoal-Ingress-Secrets"
	maxBody              = 16 << 20
	// maxJoinBody bounds a join, the one request without a certificate:
	// a token and a P-256 certificate request take under a kilobyte.
	maxJoinBody   = 64 << 10
	routeKeepBeat = 10 * time.Second
)

// joinRequest is what a new node sends, once, to get its certificate.
type joinRequest struct {
	// Token is the join token.
	Token string `json:"Token"`
	// CSR is a PEM certificate request for the node's own key.
	CSR string `json:"CSR"`
}

// joinAnswer is the new node's identity.
type joinAnswer struct {
	// NodeID is the ID the manager gave the node (its certificate's CN).
	NodeID string `json:"NodeID"`
	// Cert is the node's PEM certificate.
	Cert string `json:"Cert"`
	// CA is the cluster's PEM root certificate.
	CA string `json:"CA"`
}

// registered answers a registration.
type registered struct {
	// SessionID names the session in the requests that follow.
	SessionID string `json:"SessionID"`
	// Managers are the cluster ports of every manager, so that the agent
	// moves to another when this one goes.
	Managers []string `json:"Managers,omitempty"`
}

// headerLeader, on a refused registration, names the cluster port of the
// leader, where the agent registers instead.
const headerLeader = "Shoal-Leader"

// headerNodeRole, "manager" on the refusal of a worker certificate's
// registration of a manager's node, tells the agent it was promoted.
const headerNodeRole = "Shoal-Node-Role"

// heartbeatAnswer tells the agent when to beat next.
type heartbeatAnswer struct {
	Period api.Duration `json:"Period"`
}

// routeUpdate is one line of the routes stream. A Reset line replaces
// everything the reader knows with Services, Tasks, Networks and Nodes
// (the first line is one); other lines carry the Events of one committed
// change, or nothing (a keep-alive).
type routeUpdate struct {
	Reset    bool           `json:"Reset,omitempty"`
	Services []*api.Service `json:"Services,omitempty"`
	Tasks    []*api.Task    `json:"Tasks,omitempty"`
	Networks []*api.Network `json:"Networks,omitempty"`
	Nodes    []*api.Node    `json:"Nodes,omitempty"`
	Events   []api.Event    `json:"Events,omitempty"`
	// Secrets are the secrets the services' labels read (usersFile),
	// decrypted, each once a stream and before the line's services: for
	// a node whose ingress asked for them.
	Secrets []*api.Secret `json:"Secrets,omitempty"`
}

// Routes is the whole of what the routes stream carries, trimmed (see
// the server's routes): every service, task, network and node.
type Routes struct {
	Services []*api.Service
	Tasks    []*api.Task
	Networks []*api.Network
	Nodes    []*api.Node
}
