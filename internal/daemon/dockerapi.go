package daemon

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/dockerapi"
	"github.com/shoalproject/shoal/internal/server"
)

// DockerAPIOff, as DevConfig.DockerAPISocket, serves no Docker Engine API.
const DockerAPIOff = "off"

// serveDockerAPI serves the Docker Engine API's swarm endpoints on the unix
// socket path (0600, in the checked data folder by default), or on TCP
// to operators when path is tcp://IP:PORT (remote.go, the certificate
// naming hosts), answering through this manager's own API socket.
func (d *Dev) serveDockerAPI(path string, hosts []string, log *slog.Logger) error {
	c, err := client.New("unix://" + d.socket)
	if err != nil {
		return err
	}
	srv := dockerapi.New(c, log)
	srv.Version = server.Version
	if addr, ok := strings.CutPrefix(path, "tcp://"); ok {
		tsrv, bound, err := d.serveTLS(addr, hosts, srv, &d.remote.conns[1], "Docker API", log)
		if err != nil {
			return err
		}
		d.dockerSrv, d.remote.dockerAddr = tsrv, bound
		log.Info("serving the Docker Engine API on TCP to operator certificates", "addr", bound)
		return nil
	}
	ln, err := listenPrivate(path, "Docker API socket")
	if err != nil {
		return err
	}
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
