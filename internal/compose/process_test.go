package compose

import "testing"

// A service without an image runs as a host process: its entrypoint and
// command together are the program and its arguments.
func TestServiceWithoutImageIsAProcess(t *testing.T) {
	st := mustLoad(t, "services:\n  worker:\n    entrypoint: [/usr/bin/env]\n    command: [sleep, \"300\"]\n")
	spec := service(t, st, "st_worker")
	eq(t, "command", spec.TaskTemplate.ContainerSpec.Command, []string{"/usr/bin/env", "sleep", "300"})
	eq(t, "args", len(spec.TaskTemplate.ContainerSpec.Args), 0)
	eq(t, "runtime", spec.TaskTemplate.Runtime(), "process")

	st = mustLoad(t, "services:\n  web:\n    image: nginx\n    command: [nginx, -g, daemon off;]\n")
	spec = service(t, st, "st_web")
	eq(t, "image args", spec.TaskTemplate.ContainerSpec.Args, []string{"nginx", "-g", "daemon off;"})
	eq(t, "image command", len(spec.TaskTemplate.ContainerSpec.Command), 0)
}
