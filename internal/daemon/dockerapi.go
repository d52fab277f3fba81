package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/dockerapi"
	"github.com/shoalproject/shoal/internal/server"
)

// DockerAPIOff, as DevConfig.DockerAPISocket, serves no Docker Engine API.
const DockerAPIOff = "off"

// serveDockerAPI serves the Docker Engine API's swarm endpoints on the unix
// socket path (0600, in the checked data folder by default), answering
// through this manager's own API socket.
func (d *Dev) serveDockerAPI(path string, log *slog.Logger) error {
	c, err := client.New("unix://" + d.socket)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale Docker API socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("restrict Docker API socket: %w", err)
	}
	srv := dockerapi.New(c, log)
	srv.Version = server.Version
	d.dockerSock = path
	d.dockerSrv = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.dockerSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("Docker API server stopped", "err", err)
		}
	}()
	return nil
}

// DockerSocket is the Docker Engine API's unix socket path, empty when off.
func (d *Dev) DockerSocket() string { return d.dockerSock }
