// Package portmesh is the routing mesh for published ports: every node
// listens on each port a service publishes in ingress mode (Swarm's
// default) and forwards each TCP connection, and each UDP client flow, to
// a task of the service that takes traffic, on whatever node it runs.
//
// A Mesh is fed the cluster's services and tasks exactly as the HTTP
// ingress's table is (Reset with everything, then Apply with each batch of
// changes), so it opens a listener when a service publishes a port,
// closes it when the service is removed or stops publishing it, and takes
// a task out of a port's pool the moment the managers want it stopped
// (api.Task.TakesTraffic, the ingress's rule): connections already
// forwarded finish while the agent's drain delay runs, new ones go to the
// other tasks.
//
// Where a task is reached is the Options.Backend function's to say. The
// default, TaskEndpoint, dials the host port the task's node published
// for the target port (NODEADDR:HOSTPORT, as the HTTP ingress does); the
// overlay network will replace it with the task's address on the ingress
// network without changing the rest.
//
// Choice and retry: each connection goes to the backend with the fewest
// open connections through this node, ties broken at random; a TCP dial
// that fails (nothing has been sent yet) is retried on another backend
// until every one was tried. A UDP flow picks its backend at its first
// datagram and keeps it until it is idle for Options.UDPIdleTimeout.
//
// Bounds: Options.MaxConns caps open TCP connections and UDP flows
// together (a connection over it is closed at once, a datagram dropped);
// a TCP connection on which neither side sent anything for
// Options.IdleTimeout is closed; each half-close is passed on, so a
// client that shuts its write side still reads the whole answer.
//
// A port that cannot be bound (another program holds it) is logged and
// tried again on the next change of the cluster; it never stops the node.
package portmesh
