// Package agentlink carries the conversation between an agent and the
// managers over HTTP/JSON, for agents on other machines: a manager serves
// it on a TCP port (Server) and an agent uses it as its agent.Manager
// (Client).
//
// The conversation is the dispatcher's, one request per call: register,
// then long-poll the assignments, report task status, heartbeat, and
// close. A second, read-only stream gives a node's ingress the services and
// tasks it routes to. Every request carries the cluster's join token.
//
// The link is plain HTTP: the port must be on a trusted network until
// nodes get certificates (mutual TLS is not done yet).
package agentlink

import (
	"time"

	"github.com/shoalproject/shoal/api"
)

// The endpoints, under one prefix so that they never collide with the
// cluster API's /v1.
const (
	pathRegister = "/agent/v1/register"
	pathSessions = "/agent/v1/sessions/"
	pathRoutes   = "/agent/v1/routes"
	suffixAssign = "/assignments"
	suffixReport = "/report"
	suffixBeat   = "/heartbeat"
	headerAuth   = "Authorization"
	// headerInstance names the agent process (its Client) a request
	// comes from: the same agent registering again replaces its session,
	// another agent of the same node does not.
	headerInstance = "Shoal-Agent-Instance"
	authScheme     = "Bearer "
	maxBody        = 16 << 20
	routeKeepBeat  = 10 * time.Second
)

// registered answers a registration.
type registered struct {
	// SessionID names the session in the requests that follow.
	SessionID string `json:"SessionID"`
}

// heartbeatAnswer tells the agent when to beat next.
type heartbeatAnswer struct {
	Period api.Duration `json:"Period"`
}

// routeUpdate is one line of the routes stream. A Reset line replaces
// everything the reader knows with Services and Tasks (the first line is
// one); other lines carry the Events of one committed change, or nothing
// (a keep-alive).
type routeUpdate struct {
	Reset    bool           `json:"Reset,omitempty"`
	Services []*api.Service `json:"Services,omitempty"`
	Tasks    []*api.Task    `json:"Tasks,omitempty"`
	Events   []api.Event    `json:"Events,omitempty"`
}
