// Package imagebuild builds a Docker image from a few files held in
// memory (a Dockerfile and a static program) with the engine's classic
// builder: no registry, no BuildKit, no docker CLI. The demo's signup
// image and the tests' images are built with it.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// File is one file of the build context.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// Build builds tag from files (one of them the Dockerfile) and returns
// the builder's output.
func Build(ctx context.Context, c *client.Client, tag string, files ...File) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0)}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Version: build.BuilderV1, Remove: true, ForceRemove: true})
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return out.String(), fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil {
			return out.String(), fmt.Errorf("%s (output: %s)", m.Error.Message, out.String())
		}
		out.WriteString(m.Stream)
	}
	if _, err := c.ImageInspect(ctx, tag); err != nil {
		return out.String(), fmt.Errorf("image missing after the build: %w (output: %s)", err, out.String())
	}
	return out.String(), nil
}
