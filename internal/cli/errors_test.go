package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// TestUsageErrors checks mistakes the CLI catches itself: exit 125, a
// message on stderr, nothing on stdout and nothing created.
func TestUsageErrors(t *testing.T) {
	cleanupServices(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"service", "ls", "--bogus"}, "unknown flag: --bogus"},
		{"unknown shorthand flag", []string{"service", "create", "-Z", "--name", "x", "--", "sleep", "300"}, "unknown shorthand flag"},
		{"negative replicas", []string{"service", "create", "--name", "neg", "--replicas", "-1", "-d", "--", "sleep", "300"}, "--replicas"},
		{"missing name", []string{"service", "create", "-d", "--", "sleep", "300"}, "--name is required"},
		{"bad mode", []string{"service", "create", "--name", "x", "--mode", "sometimes", "--", "sleep", "300"}, `invalid --mode "sometimes"`},
		{"global with replicas", []string{"service", "create", "--name", "x", "--mode", "global", "--replicas", "2", "--", "sleep", "300"}, "--replicas can only be used with replicated mode"},
		{"job flags on a service", []string{"service", "create", "--name", "x", "--max-concurrent", "2", "--", "sleep", "300"}, "--max-concurrent and --total-completions can only be used with --mode replicated-job"},
		{"job replicas disagree", []string{"service", "create", "--name", "x", "--mode", "replicated-job", "--replicas", "2", "--total-completions", "3", "--", "true"}, "--replicas 2 and --total-completions 3 disagree"},
		{"bad publish", []string{"service", "create", "--name", "x", "-p", "http", "--", "sleep", "300"}, `invalid --publish "http"`},
		{"bad endpoint mode", []string{"service", "create", "--name", "x", "--endpoint-mode", "rr", "--", "sleep", "300"}, `invalid --endpoint-mode "rr": want vip or dnsrr`},
		{"gateway without subnet", []string{"network", "create", "--gateway", "10.1.0.1", "n"}, "--gateway 10.1.0.1 needs --subnet"},
		// A data folder that can't be made: if the flags were not refused,
		// dev fails at once instead of running.
		{"dev bad pool mask", []string{"dev", "--data-dir", "/proc/none", "--default-addr-pool-mask-length", "0"}, "invalid subnet size /0: want a mask length from 1 to 29"},
		{"dev bad pool", []string{"dev", "--data-dir", "/proc/none", "--default-addr-pool", "10.0.0.0/33"}, `invalid address pool "10.0.0.0/33"`},
		{"dev cert expiry too short", []string{"dev", "--data-dir", "/proc/none", "--cert-expiry", "10m"}, "invalid --cert-expiry: certificate expiry 10m0s is under the minimum 1h0m0s"},
		{"dev bad publish address", []string{"dev", "--data-dir", "/proc/none", "--publish-addr", "everywhere"}, `invalid --publish-addr "everywhere"`},
		{"agent negative publish cap", []string{"agent", "--data-dir", "/proc/none", "--manager", "127.0.0.1:1", "--token", "t", "--publish-max-conns", "-1"}, "invalid --publish-max-conns -1"},
		{"dev pool smaller than a subnet", []string{"dev", "--data-dir", "/proc/none", "--default-addr-pool", "10.0.0.0/26"}, "address pool 10.0.0.0/26 is smaller than one /24 subnet"},
		{"bad label", []string{"service", "create", "--name", "x", "-l", "=v", "--", "sleep", "300"}, `invalid --label "=v"`},
		{"bad memory", []string{"service", "create", "--name", "x", "--limit-memory", "lots", "--", "sleep", "300"}, `invalid --limit-memory "lots"`},
		{"filter without value", []string{"node", "ps", "-f", "name"}, `invalid argument "name" for "-f, --filter" flag: bad format of filter (expected name=value)`},
		{"update bad order", []string{"service", "update", "--update-order", "sideways", "web"}, `invalid --update-order "sideways": want stop-first or start-first`},
		{"update bad ratio", []string{"service", "update", "--update-max-failure-ratio", "2", "web"}, "invalid --update-max-failure-ratio 2: want a number from 0 to 1"},
		{"update ratio not a number", []string{"service", "update", "--rollback-max-failure-ratio", "most", "web"}, `invalid argument "most" for "--rollback-max-failure-ratio"`},
		{"update bad failure action", []string{"service", "update", "--update-failure-action", "panic", "web"}, `invalid --update-failure-action "panic"`},
		{"update bad delay", []string{"service", "update", "--update-delay", "soon", "web"}, `invalid argument "soon" for "--update-delay"`},
		{"update bad secret", []string{"service", "update", "--secret-add", "mode=0400", "web"}, `invalid --secret-add "mode=0400": missing source`},
		{"update bad restart condition", []string{"service", "update", "--restart-condition", "sometimes", "web"}, `invalid --restart-condition "sometimes"`},
		{"update rollback with other flags", []string{"service", "update", "--rollback", "--image", "x", "web"}, "other flags may not be combined with --rollback: --image"},
		{"create bad order", []string{"service", "create", "--name", "x", "--update-order", "x", "--", "sleep", "300"}, `invalid --update-order "x"`},
		{"create bad rollback action", []string{"service", "create", "--name", "x", "--rollback-failure-action", "rollback", "--", "sleep", "300"}, `invalid --rollback-failure-action "rollback"`},
		{"create bad config", []string{"service", "create", "--name", "x", "--config", "source=c,mode=999", "--", "sleep", "300"}, `invalid --config "source=c,mode=999"`},
		{"rollback --to 0", []string{"service", "rollback", "--to", "0", "web"}, "invalid --to 0: revisions start at 1"},
		{"rollback --to not a number", []string{"service", "rollback", "--to", "last", "web"}, `invalid argument "last" for "--to"`},
		{"rollback --to negative", []string{"service", "rollback", "--to", "-1", "web"}, `invalid argument "-1" for "--to"`},
		{"inspect pretty and format", []string{"service", "inspect", "--pretty", "-f", "{{.ID}}", "web"}, "--format is incompatible with human friendly format"},
		{"dev negative max conns", []string{"dev", "--ingress-max-conns", "-1"}, "invalid --ingress-max-conns -1"},
		{"agent zero idle timeout", []string{"agent", "--manager", "127.0.0.1:1", "--token", "x", "--ingress-idle-timeout", "0s"}, "invalid --ingress-idle-timeout 0s"},
		{"dev negative response header timeout", []string{"dev", "--ingress-response-header-timeout", "-1s"}, "invalid --ingress-response-header-timeout -1s"},
		{"dev cert without tls", []string{"dev", "--ingress-cert", "x.pem"}, "--ingress-cert needs --ingress-tls"},
		{"agent missing cert file", []string{"agent", "--manager", "127.0.0.1:1", "--token", "x", "--ingress-tls", ":0", "--ingress-cert", "/nonexistent/x.pem"}, "invalid --ingress-cert"},
		{"dev client ca without tls", []string{"dev", "--ingress-tls-client-ca", "ca.pem"}, "--ingress-tls-client-ca needs --ingress-tls"},
		{"dev tls options without tls", []string{"dev", "--ingress-tls-options", "opts.yml"}, "--ingress-tls-options needs --ingress-tls"},
		{"agent missing tls options file", []string{"agent", "--manager", "127.0.0.1:1", "--token", "x", "--ingress-tls", ":0", "--ingress-tls-options", "/nonexistent/opts.yml"}, "invalid --ingress-tls-options"},
		{"dev bad trusted ips", []string{"dev", "--ingress-trusted-ips", "10.0.0.0/8,lb.example"}, `invalid --ingress-trusted-ips "lb.example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shoal(t, tc.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d: %s", r.code, ExitUsage, r)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, tc.want)
			}
			if !strings.Contains(r.stderr, "--help") {
				t.Errorf("stderr %q does not point to --help", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	c := testClient(t)
	svcs, err := c.ServiceList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 0 {
		t.Errorf("usage errors created services: %v", svcs[0].Spec.Name)
	}
}

// TestAPIErrors checks errors the cluster reports: exit 1 and the message.
func TestAPIErrors(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "dup", "--replicas", "1", "-d", "--", "sleep", "300")

	t.Run("duplicate name", func(t *testing.T) {
		for _, name := range []string{"dup", "DUP"} {
			r := shoal(t, "service", "create", "--name", name, "-d", "--", "sleep", "300")
			if r.code != ExitFailure || !strings.Contains(r.stderr, "already exists") {
				t.Errorf("second service named %s: %s", name, r)
			}
		}
	})

	t.Run("ingress routes without an ingress", func(t *testing.T) {
		r := shoal(t, "ingress", "routes")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "this node runs no ingress") || r.stdout != "" {
			t.Errorf("ingress routes on a node without an ingress: %s", r)
		}
	})

	t.Run("invalid name", func(t *testing.T) {
		r := shoal(t, "service", "create", "--name", "bad name", "-d", "--", "sleep", "300")
		if r.code != ExitFailure || !strings.Contains(r.stderr, `"bad name"`) {
			t.Errorf("service named 'bad name': %s", r)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	})

	t.Run("invalid spec lists every problem", func(t *testing.T) {
		r := shoal(t, "service", "create", "--name", "x", "--restart-condition", "sometimes",
			"--constraint", "node.platform.os = linux", "--stop-signal", "SIGNOPE", "-d", "--", "sleep", "300")
		if r.code != ExitFailure {
			t.Errorf("exit %d, want 1: %s", r.code, r)
		}
		for _, want := range []string{`restart condition "sometimes"`, `constraint "node.platform.os = linux"`, `invalid stop signal "SIGNOPE"`} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
			}
		}
	})

	t.Run("missing service", func(t *testing.T) {
		for _, args := range [][]string{
			{"service", "inspect", "nope"},
			{"service", "ps", "nope"},
			{"service", "rm", "nope"},
			{"service", "scale", "nope=2"},
			{"service", "update", "nope", "--replicas", "2"},
		} {
			r := shoal(t, args...)
			if r.code != ExitFailure || !strings.Contains(r.stderr, "no such service: nope") {
				t.Errorf("shoal %s: %s", strings.Join(args, " "), r)
			}
		}
	})

	t.Run("inspect found and missing", func(t *testing.T) {
		r := shoal(t, "service", "inspect", "-f", "{{.Spec.Name}}", "dup", "nope")
		if r.code != ExitFailure || r.stdout != "dup\n" || !strings.Contains(r.stderr, "no such service: nope") {
			t.Errorf("service inspect dup nope: %s", r)
		}
	})

	t.Run("program not found", func(t *testing.T) {
		mustShoal(t, "service", "create", "--name", "noprog", "-d", "--", "/nope/prog")
		waitUntil(t, "the noprog task to be rejected", func(ctx context.Context, c *client.Client) (bool, error) {
			tasks, err := serviceTasks(ctx, c, "noprog")
			if err != nil {
				return false, err
			}
			for _, tk := range tasks {
				if tk.Status.State == api.TaskStateRejected {
					return true, nil
				}
			}
			return false, nil
		})
		tb := parseTable(t, mustShoal(t, "service", "ps", "--no-trunc", "noprog").stdout, taskHeaders...)
		found := false
		for _, row := range tb.rows {
			if strings.HasPrefix(row["CURRENT STATE"], "Rejected ") {
				found = true
				if !strings.Contains(row["ERROR"], "no such file or directory") || !strings.Contains(row["ERROR"], "/nope/prog") {
					t.Errorf("rejected task ERROR = %q, want the missing program", row["ERROR"])
				}
			}
		}
		if !found {
			t.Errorf("service ps noprog shows no rejected task: %v", tb.rows)
		}
	})

	t.Run("no cluster", func(t *testing.T) {
		r := shoalRaw(t, "--host", "unix:///nonexistent.sock", "service", "ls")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "cannot reach shoal") || !strings.Contains(r.stderr, "unix:///nonexistent.sock") {
			t.Errorf("service ls with no cluster: %s", r)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	})

	t.Run("bad host", func(t *testing.T) {
		r := shoalRaw(t, "--host", "ftp://example.com", "service", "ls")
		if r.code != ExitFailure || !strings.Contains(r.stderr, `invalid host "ftp://example.com"`) {
			t.Errorf("service ls with a bad host: %s", r)
		}
	})
}

// TestHostSelection checks that --host, -H and SHOAL_HOST all pick the
// cluster, and that --host wins over SHOAL_HOST.
func TestHostSelection(t *testing.T) {
	check := func(t *testing.T, r result) {
		t.Helper()
		if r.code != 0 || !strings.HasPrefix(r.stdout, testDev.NodeID()) {
			t.Errorf("node ls -q: %s", r)
		}
	}
	t.Run("--host", func(t *testing.T) { check(t, shoalRaw(t, "--host", testHost, "node", "ls", "-q")) })
	t.Run("-H", func(t *testing.T) { check(t, shoalRaw(t, "-H", testHost, "node", "ls", "-q")) })
	t.Run("--host after the command", func(t *testing.T) { check(t, shoalRaw(t, "node", "ls", "-q", "--host", testHost)) })
	t.Run("SHOAL_HOST", func(t *testing.T) {
		t.Setenv("SHOAL_HOST", testHost)
		check(t, shoalRaw(t, "node", "ls", "-q"))
	})
	t.Run("--host over SHOAL_HOST", func(t *testing.T) {
		t.Setenv("SHOAL_HOST", "unix:///nonexistent.sock")
		check(t, shoalRaw(t, "--host", testHost, "node", "ls", "-q"))
		if r := shoalRaw(t, "node", "ls", "-q"); r.code != ExitFailure || !strings.Contains(r.stderr, "unix:///nonexistent.sock") {
			t.Errorf("SHOAL_HOST is not used: %s", r)
		}
	})
}
