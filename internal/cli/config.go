package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/dockerapi"
)

// configs are file objects whose content inspect --pretty shows.
var configs = fileObject[api.Config]{
	noun:     "config",
	maxSize:  api.MaxConfigSize,
	showData: true,
	create: func(c *client.Client, ctx context.Context, name string, labels map[string]string, data []byte) (string, error) {
		cfg, err := c.ConfigCreate(ctx, api.ConfigSpec{Name: name, Labels: labels, Data: data})
		if err != nil {
			return "", err
		}
		return cfg.ID, nil
	},
	list:    (*client.Client).ConfigList,
	inspect: (*client.Client).ConfigInspect,
	remove:  (*client.Client).ConfigRemove,
	view: func(cfg *api.Config) objectView {
		return objectView{ID: cfg.ID, Name: cfg.Spec.Name, Meta: cfg.Meta, Labels: cfg.Spec.Labels, Data: cfg.Spec.Data}
	},
	docker: func(cfg *api.Config) any { return configView{Config: dockerapi.ConfigOut(cfg), Shoal: cfg} },
}

func newConfigCmd(a *app) *cobra.Command { return configs.command(a, "Manage configs") }
