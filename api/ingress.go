package api

// IngressRoute is one router a node's ingress serves (GET
// /v1/ingress/routes), in matching order.
type IngressRoute struct {
	// Service is the shoal service whose labels define the router.
	Service string `json:"Service"`
	// Router is the Traefik router's name, LoadBalancer its Traefik
	// service's.
	Router       string `json:"Router"`
	LoadBalancer string `json:"LoadBalancer,omitempty"`
	Rule         string `json:"Rule"`
	Priority     int    `json:"Priority"`
	// EntryPoints the router takes requests on ("web", "websecure").
	EntryPoints []string `json:"EntryPoints"`
	// Middlewares are applied in this order.
	Middlewares []string `json:"Middlewares,omitempty"`
	// Refused, when set, is why the router answers 503.
	Refused string `json:"Refused,omitempty"`
	// Backends are the tasks taking its traffic.
	Backends []IngressBackend `json:"Backends,omitempty"`
	// StickyCookie names the cookie that pins a client to a backend,
	// empty when the service is not sticky.
	StickyCookie string `json:"StickyCookie,omitempty"`
}

// IngressBackend is one task endpoint of a route.
type IngressBackend struct {
	TaskID string `json:"TaskID"`
	Addr   string `json:"Addr"`
	// Healthy is false while the task fails its health check.
	Healthy bool `json:"Healthy"`
}
