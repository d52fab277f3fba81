package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/shoalproject/shoal/api"
)

func versionQuery(version uint64) url.Values {
	if version == 0 {
		return nil
	}
	return url.Values{"version": {fmt.Sprint(version)}}
}

// ConfigCreate creates a config.
func (c *Client) ConfigCreate(ctx context.Context, spec api.ConfigSpec) (*api.Config, error) {
	var out api.Config
	return &out, c.do(ctx, http.MethodPost, "/v1/configs", nil, spec, &out)
}

// ConfigList lists every config, data included.
func (c *Client) ConfigList(ctx context.Context) ([]*api.Config, error) {
	var out []*api.Config
	return out, c.do(ctx, http.MethodGet, "/v1/configs", nil, nil, &out)
}

// ConfigInspect returns the config ref names (ID, name or ID prefix).
func (c *Client) ConfigInspect(ctx context.Context, ref string) (*api.Config, error) {
	var out api.Config
	return &out, c.do(ctx, http.MethodGet, "/v1/configs/"+url.PathEscape(ref), nil, nil, &out)
}

// ConfigUpdate changes a config's labels to spec's; spec's name and data
// must be empty or the config's own. version (if not zero) must be the
// config's current Version.
func (c *Client) ConfigUpdate(ctx context.Context, ref string, version uint64, spec api.ConfigSpec) (*api.Config, error) {
	var out api.Config
	return &out, c.do(ctx, http.MethodPost, "/v1/configs/"+url.PathEscape(ref)+"/update", versionQuery(version), spec, &out)
}

// ConfigRemove deletes a config; a config a service uses is not deleted
// (IsConflict).
func (c *Client) ConfigRemove(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/v1/configs/"+url.PathEscape(ref), nil, nil, nil)
}

// SecretCreate creates a secret. The secret returned, like every secret
// the API returns, has no data.
func (c *Client) SecretCreate(ctx context.Context, spec api.SecretSpec) (*api.Secret, error) {
	var out api.Secret
	return &out, c.do(ctx, http.MethodPost, "/v1/secrets", nil, spec, &out)
}

// SecretList lists every secret.
func (c *Client) SecretList(ctx context.Context) ([]*api.Secret, error) {
	var out []*api.Secret
	return out, c.do(ctx, http.MethodGet, "/v1/secrets", nil, nil, &out)
}

// SecretInspect returns the secret ref names (ID, name or ID prefix).
func (c *Client) SecretInspect(ctx context.Context, ref string) (*api.Secret, error) {
	var out api.Secret
	return &out, c.do(ctx, http.MethodGet, "/v1/secrets/"+url.PathEscape(ref), nil, nil, &out)
}

// SecretUpdate changes a secret's labels to spec's; spec's name must be
// empty or the secret's own, and its data empty.
func (c *Client) SecretUpdate(ctx context.Context, ref string, version uint64, spec api.SecretSpec) (*api.Secret, error) {
	var out api.Secret
	return &out, c.do(ctx, http.MethodPost, "/v1/secrets/"+url.PathEscape(ref)+"/update", versionQuery(version), spec, &out)
}

// SecretRemove deletes a secret; a secret a service uses is not deleted
// (IsConflict).
func (c *Client) SecretRemove(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/v1/secrets/"+url.PathEscape(ref), nil, nil, nil)
}

// NetworkCreate creates a network; the driver defaults to overlay.
func (c *Client) NetworkCreate(ctx context.Context, spec api.NetworkSpec) (*api.Network, error) {
	var out api.Network
	return &out, c.do(ctx, http.MethodPost, "/v1/networks", nil, spec, &out)
}

// NetworkList lists every network.
func (c *Client) NetworkList(ctx context.Context) ([]*api.Network, error) {
	var out []*api.Network
	return out, c.do(ctx, http.MethodGet, "/v1/networks", nil, nil, &out)
}

// NetworkInspect returns the network ref names (ID, name or ID prefix).
func (c *Client) NetworkInspect(ctx context.Context, ref string) (*api.Network, error) {
	var out api.Network
	return &out, c.do(ctx, http.MethodGet, "/v1/networks/"+url.PathEscape(ref), nil, nil, &out)
}

// NetworkRemove deletes a network; a network a service attaches to is not
// deleted (IsConflict).
func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/v1/networks/"+url.PathEscape(ref), nil, nil, nil)
}
