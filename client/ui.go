package client

import (
	"context"
	"net/http"
)

// UILogin is a one-time login URL of a manager's dashboard.
type UILogin struct {
	URL string `json:"URL"`
}

// UILoginURL asks the manager for a fresh one-time login URL of its
// dashboard (`shoal ui url`).
func (c *Client) UILoginURL(ctx context.Context) (string, error) {
	var out UILogin
	if err := c.do(ctx, http.MethodPost, "/v1/ui/login", nil, nil, &out); err != nil {
		return "", err
	}
	return out.URL, nil
}
