package clicontext

import (
	"fmt"
	"strings"

	"github.com/shoalproject/shoal/client"
)

// Inputs are what picks the endpoint: flags and environment, as the CLI
// read them.
type Inputs struct {
	// Host is -H/--host, empty when not given; EnvHost is SHOAL_HOST.
	Host, EnvHost string
	// Context is --context; EnvContext is SHOAL_CONTEXT.
	Context, EnvContext string
	// DefaultHost is the local manager's socket.
	DefaultHost string
	// TLS are the certificate files for a host given by -H or SHOAL_HOST
	// (--tlscacert... or SHOAL_CERT_PATH); nil when TLS was not asked
	// for (--tlsverify, SHOAL_TLS_VERIFY or a --tls* file flag).
	TLS *client.TLSFiles
}

// Endpoint is where the CLI talks, and why.
type Endpoint struct {
	Host string
	// TLS is the operator certificate, nil for none.
	TLS *client.TLSFiles
	// Context names the context used, empty when a host was given.
	Context string
}

// Resolve picks the endpoint as docker does: -H, then SHOAL_HOST (both
// with the TLS flags and variables), then --context, SHOAL_CONTEXT, the
// current context (`context use`), and last the local socket.
func (s Store) Resolve(in Inputs) (Endpoint, error) {
	switch {
	case in.Host != "":
		return Endpoint{Host: in.Host, TLS: in.TLS}, nil
	case in.EnvHost != "":
		return Endpoint{Host: in.EnvHost, TLS: in.TLS}, nil
	}
	name, why := in.Context, "--context"
	if name == "" {
		name, why = in.EnvContext, "SHOAL_CONTEXT"
	}
	if name == "" {
		cur, err := s.Current()
		if err != nil {
			return Endpoint{}, err
		}
		name, why = cur, "the current context (`shoal context use`)"
	}
	if name == Default {
		return Endpoint{Host: in.DefaultHost, Context: Default}, nil
	}
	c, err := s.Get(name)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%s: %w", why, err)
	}
	ep := Endpoint{Host: c.Host, Context: name}
	if c.TLS {
		ep.TLS = s.TLSFiles(name)
	} else if strings.HasPrefix(c.Host, "tcp://") {
		return Endpoint{}, fmt.Errorf("context %s has a tcp:// host but no certificate: create it again with --cert-path DIR", name)
	}
	return ep, nil
}
