package demo

import (
	"context"
	"errors"
	"fmt"
	"os"

	mobyclient "github.com/moby/moby/client"

	signupfiles "github.com/shoalproject/shoal/examples/signup/stack"
	"github.com/shoalproject/shoal/internal/imagebuild"
	dockerrt "github.com/shoalproject/shoal/internal/runtime/docker"
)

// ImageTag is the image `shoal demo --runtime docker` builds.
const ImageTag = "shoal-demo/signup:latest"

func docker() (*mobyclient.Client, error) {
	c, err := mobyclient.New(mobyclient.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	return c, nil
}

// BuildImage builds tag from the stack folder's Dockerfile (FROM
// scratch) and the static program bin, with the classic builder: the
// engine needs no registry and no BuildKit.
func BuildImage(ctx context.Context, bin, tag string) error {
	prog, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	dockerfile, err := signupfiles.Files.ReadFile("Dockerfile")
	if err != nil {
		return err
	}
	c, err := docker()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := imagebuild.Build(ctx, c, tag, imagebuild.File{Name: "Dockerfile", Mode: 0o644, Data: dockerfile},
		imagebuild.File{Name: "signup", Mode: 0o755, Data: prog}); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	return nil
}

// RemoveImage removes the image BuildImage made.
func RemoveImage(ctx context.Context, tag string) error {
	c, err := docker()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ImageRemove(ctx, tag, mobyclient.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", tag, err)
	}
	return nil
}

// killContainer kills a task's container the hard way, as `docker kill`.
func killContainer(ctx context.Context, id string) error {
	c, err := docker()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ContainerKill(ctx, id, mobyclient.ContainerKillOptions{Signal: "KILL"})
	return err
}

// removeNodeContainers removes the containers of the nodes ids: those the
// docker runtime labelled with their node IDs. It does nothing when no
// engine answers (the nodes ran none).
func removeNodeContainers(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := docker()
	if err != nil {
		return nil
	}
	defer c.Close()
	if _, err := c.Ping(ctx, mobyclient.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil
	}
	var errs []error
	for _, id := range ids {
		res, err := c.ContainerList(ctx, mobyclient.ContainerListOptions{All: true,
			Filters: mobyclient.Filters{}.Add("label", dockerrt.LabelNodeID+"="+id)})
		if err != nil {
			errs = append(errs, fmt.Errorf("list the containers of node %s: %w", id, err))
			continue
		}
		for _, ctr := range res.Items {
			if _, err := c.ContainerRemove(ctx, ctr.ID, mobyclient.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				errs = append(errs, fmt.Errorf("remove container %.12s of node %s: %w", ctr.ID, id, err))
			}
		}
	}
	return errors.Join(errs...)
}
