package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shoalproject/shoal/internal/runtime"
)

// defaultPath is the tasks' PATH when the agent has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolveProgram finds the program to run: a name without a slash on the
// agent's PATH, a relative path from the task's working directory.
func resolveProgram(prog, cwd string) (string, error) {
	if strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		prog = filepath.Join(cwd, prog)
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", err
	}
	return filepath.Abs(path)
}

// taskIDEnv names the task in its processes' environment; it is also how a
// process of a start that was never recorded is found (killUnrecorded).
const taskIDEnv = runtime.TaskIDEnv

// taskEnv returns the task's environment: a minimal base, the spec's
// variables, then the task's identity, node address and ports, which the
// spec cannot override (exec keeps the last of duplicate variables).
// SHOAL_NODE_ADDR lets a task listen on its node's address alone, so that
// nodes sharing a host on loopback aliases never answer for each other; a
// task in a network namespace of its own has none (nodeAddr ""): it
// listens on all of its own addresses.
func taskEnv(spec runtime.TaskSpec, nodeAddr, home, files string, ports []hostPort) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{"PATH=" + path, "HOME=" + home}
	env = append(env, spec.Container.Env...)
	env = append(env, runtime.IdentityEnv(spec, nodeAddr)...)
	if files != "" {
		env = append(env, filesEnv+"="+files)
	}
	for _, hp := range ports {
		env = append(env, fmt.Sprintf("SHOAL_PORT_%d=%d", hp.target, hp.key.port))
	}
	if len(ports) > 0 {
		env = append(env, "PORT="+strconv.Itoa(ports[0].key.port))
	}
	return env
}

// credential resolves a ContainerSpec.User, "user[:group]" with names or
// numeric IDs, into the credential to run the task with and its HOME. An
// empty spec runs the task as the agent, with the agent's HOME. Only an agent
// running as root (euid 0) can run a task as another user.
func credential(spec string, euid int) (*syscall.Credential, string, error) {
	if spec == "" {
		home := os.Getenv("HOME")
		if home == "" {
			home = "/"
		}
		return nil, home, nil
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	var (
		uid, gid uint32
		home     = "/"
		groups   []uint32
		u        *user.User
	)
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		uid, gid = uint32(n), uint32(n)
		u, _ = user.LookupId(name)
	} else {
		var err error
		if u, err = user.Lookup(name); err != nil {
			return nil, "", fmt.Errorf("user %q: %w", spec, err)
		}
		n, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, "", fmt.Errorf("user %q: uid %q: %w", spec, u.Uid, err)
		}
		uid = uint32(n)
	}
	if u != nil {
		if n, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			gid = uint32(n)
		}
		if u.HomeDir != "" {
			home = u.HomeDir
		}
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if n, err := strconv.ParseUint(id, 10, 32); err == nil {
					groups = append(groups, uint32(n))
				}
			}
		}
	}
	if hasGroup {
		if n, err := strconv.ParseUint(group, 10, 32); err == nil {
			gid = uint32(n)
		} else {
			g, err := user.LookupGroup(group)
			if err != nil {
				return nil, "", fmt.Errorf("user %q: %w", spec, err)
			}
			n, err := strconv.ParseUint(g.Gid, 10, 32)
			if err != nil {
				return nil, "", fmt.Errorf("user %q: gid %q: %w", spec, g.Gid, err)
			}
			gid = uint32(n)
		}
	}
	if euid != 0 {
		if int(uid) == euid && int(gid) == os.Getegid() {
			return nil, home, nil
		}
		return nil, "", fmt.Errorf("user %q: %w", spec, errNotRoot)
	}
	return &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}, home, nil
}

// errNotRoot rejects a task user when the agent cannot switch users.
var errNotRoot = errors.New("running a task as another user needs the agent to run as root")
