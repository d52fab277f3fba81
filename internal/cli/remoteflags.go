//go:build linux

package cli

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"
)

// remoteFlags are a manager's --api and --api-san: the API on TCP with
// the cluster's mutual TLS, for operator certificates (docs/cli.md,
// "Remote use").
type remoteFlags struct {
	addr string
	sans []string
}

func (f *remoteFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "api", "", "TCP address serving the API to operator certificates of the cluster CA (mutual TLS; `shoal swarm ca --issue-client`), e.g. 0.0.0.0:2376 (default: off)")
	cmd.Flags().StringSliceVar(&f.sans, "api-san", nil, "extra host name or IP the TCP API certificate names (--api, --docker-api tcp://), for clients that dial the manager by it; repeat for several")
}

// check refuses an --api or a --docker-api tcp:// address that is not
// IP:PORT (or HOST:PORT), before anything starts.
func (f *remoteFlags) check(cmd *cobra.Command, dockerAPI string) error {
	if f.addr != "" {
		if _, _, err := net.SplitHostPort(f.addr); err != nil || strings.Contains(f.addr, "://") {
			return usagef(cmd, "invalid --api %q: want IP:PORT, e.g. 0.0.0.0:2376", f.addr)
		}
	}
	if rest, ok := strings.CutPrefix(dockerAPI, "tcp://"); ok {
		if _, _, err := net.SplitHostPort(rest); err != nil {
			return usagef(cmd, "invalid --docker-api %q: want tcp://IP:PORT, a unix socket path, or off", dockerAPI)
		}
	} else if strings.Contains(dockerAPI, "://") {
		return usagef(cmd, "invalid --docker-api %q: want tcp://IP:PORT, a unix socket path, or off (plain HTTP on TCP is never served)", dockerAPI)
	}
	for _, s := range f.sans {
		if s == "" || strings.ContainsAny(s, " /:") && net.ParseIP(s) == nil {
			return usagef(cmd, "invalid --api-san %q: want a host name or an IP address", s)
		}
	}
	if len(f.sans) > 0 && f.addr == "" && !strings.HasPrefix(dockerAPI, "tcp://") {
		return usagef(cmd, "--api-san needs --api or --docker-api tcp://")
	}
	return nil
}

// printRemote says where the TCP listeners are, and how an operator gets
// in.
func printRemote(a *app, d interface {
	APIAddr() string
	DockerAPIAddr() string
}) {
	if addr := d.APIAddr(); addr != "" {
		fmt.Fprintf(a.stdout, "  API (TCP):   tcp://%s (mutual TLS: operator certificates from `shoal swarm ca --issue-client NAME --out DIR`)\n", addr)
	}
	if addr := d.DockerAPIAddr(); addr != "" {
		fmt.Fprintf(a.stdout, "  Docker API:  tcp://%s (docker --tlsverify with an operator certificate: DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1)\n", addr)
	}
}
