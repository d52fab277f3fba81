package demo

import (
	"context"
	"fmt"
	"os"

	mobyclient "github.com/moby/moby/client"

	signupfiles "github.com/shoalproject/shoal/examples/signup/stack"
	"github.com/shoalproject/shoal/internal/imagebuild"
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
