package demo

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	mobyclient "github.com/moby/moby/client"

	signupfiles "github.com/shoalproject/shoal/examples/signup/stack"
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
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"signup", 0o755, prog}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	c, err := docker()
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.ImageBuild(ctx, &buf, mobyclient.ImageBuildOptions{Tags: []string{tag}, Version: build.BuilderV1, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("build image %s: read the output: %w", tag, err)
		}
		if m.Error != nil {
			return fmt.Errorf("build image %s: %s", tag, m.Error.Message)
		}
	}
	if _, err := c.ImageInspect(ctx, tag); err != nil {
		return fmt.Errorf("build image %s: missing after the build: %w", tag, err)
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
