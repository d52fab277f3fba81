package cli

import (
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// module is this module's import path.
const module = "github.com/shoalproject/shoal"

// nodeFiles are the files of this package that run a node (dev,
// manager, agent, demo, ui's listener flags, SIGHUP's reload): built for Linux (the agent
// for Windows too, as a worker), with nodecmd_other.go and
// agentcmd_other.go saying so elsewhere. Everything else builds requests.
var nodeFiles = []string{"agent.go", "agent_linux.go", "agent_windows.go", "agentcmd_other.go", "agent_promote.go", "demo.go", "dev.go", "nodecmd_other.go", "reload.go", "remoteflags.go", "ui_node.go"}

// proxyOnly are files of packages the request code imports that differ
// by platform but that no request goes through: the ingress proxy's
// connection probes (methods of its backend and client connections),
// which the CLI, importing the package for its label parsing
// (service_ingress.go), never runs.
var proxyOnly = map[string][]string{
	module + "/internal/ingress": {"alive_unix.go", "alive_other.go", "clientwatch_unix.go", "clientwatch_other.go"},
}

// targets are the release targets (issue 20).
var targets = [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"}, {"windows", "arm64"}}

// TestRequestCodeIsTheSameOnEveryPlatform shows that a CLI built for
// darwin or windows sends the requests the Linux one does: every file
// that can shape a request (this package's but the node files, and every
// package of this module they import, transitively: client, api, format,
// clicontext, compose...) is compiled from the same source files for
// every target, with no build tag choosing another. Together with the
// recorded requests (TestRecordedRequests, on Linux), the same code
// makes the same requests; what differs by platform is only the
// standard library below (paths, the config folder), which
// TestRecordedRequests does not depend on.
func TestRequestCodeIsTheSameOnEveryPlatform(t *testing.T) {
	files := func(goos, goarch, dir string) []string {
		ctxt := build.Default
		ctxt.GOOS, ctxt.GOARCH, ctxt.CgoEnabled = goos, goarch, false
		p, err := ctxt.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s/%s %s: %v", goos, goarch, dir, err)
		}
		return p.GoFiles
	}
	// This package: the request files are the same set everywhere, and
	// only node files come and go.
	base := files("linux", "amd64", ".")
	var request []string
	for _, f := range base {
		if !slices.Contains(nodeFiles, f) {
			request = append(request, f)
		}
	}
	for _, tg := range targets {
		got := files(tg[0], tg[1], ".")
		var req []string
		for _, f := range got {
			if !slices.Contains(nodeFiles, f) {
				req = append(req, f)
			}
		}
		if !slices.Equal(req, request) {
			t.Errorf("%s/%s builds other request files:\n got %v\nwant %v", tg[0], tg[1], req, request)
		}
	}
	// The module packages those files import, and theirs.
	seen := map[string]bool{}
	var queue []string
	fset := token.NewFileSet()
	for _, f := range request {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			queue = append(queue, p)
		}
	}
	root, _ := filepath.Abs("../..")
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] || !strings.HasPrefix(p, module+"/") {
			continue
		}
		seen[p] = true
		dir := filepath.Join(root, strings.TrimPrefix(p, module+"/"))
		drop := func(fs []string) []string {
			return slices.DeleteFunc(fs, func(f string) bool { return slices.Contains(proxyOnly[p], f) })
		}
		want := drop(files("linux", "amd64", dir))
		for _, tg := range targets {
			if got := drop(files(tg[0], tg[1], dir)); !slices.Equal(got, want) {
				t.Errorf("%s, imported by the request code, builds other files on %s/%s:\n got %v\nwant %v", p, tg[0], tg[1], got, want)
			}
		}
		ctxt := build.Default
		ctxt.CgoEnabled = false
		pk, err := ctxt.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		queue = append(queue, pk.Imports...)
	}
	for _, must := range []string{module + "/client", module + "/api", module + "/internal/clicontext"} {
		if !seen[must] {
			t.Errorf("%s not among the packages checked", must)
		}
	}
	t.Logf("request code: %d files here, %d packages checked on %d targets", len(request), len(seen), len(targets))
}
