package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/dockerapi"
)

// secrets are file objects whose content no command prints: the API never
// returns it, and inspect clears it should one ever come back.
var secrets = fileObject[api.Secret]{
	noun:    "secret",
	maxSize: api.MaxSecretSize,
	create: func(c *client.Client, ctx context.Context, name string, labels map[string]string, data []byte) (string, error) {
		sec, err := c.SecretCreate(ctx, api.SecretSpec{Name: name, Labels: labels, Data: data})
		if err != nil {
			return "", err
		}
		return sec.ID, nil
	},
	list: (*client.Client).SecretList,
	inspect: func(c *client.Client, ctx context.Context, ref string) (*api.Secret, error) {
		s, err := c.SecretInspect(ctx, ref)
		if s != nil {
			s.Spec.Data = nil
		}
		return s, err
	},
	remove: (*client.Client).SecretRemove,
	docker: func(sec *api.Secret) any { return secretView{Secret: dockerapi.SecretOut(sec), Shoal: sec} },
	view: func(s *api.Secret) objectView {
		return objectView{ID: s.ID, Name: s.Spec.Name, Meta: s.Meta, Labels: s.Spec.Labels}
	},
}

func newSecretCmd(a *app) *cobra.Command { return secrets.command(a, "Manage secrets") }
