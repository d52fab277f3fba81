package compose

import (
	"testing"

	"github.com/shoalproject/shoal/api"
)

// TestStackServicesCarryTheImageLabel: as docker stack deploy does, a
// stack service's labels name its image, as written in the file, under
// com.docker.stack.image; a process service (no image) has none.
func TestStackServicesCarryTheImageLabel(t *testing.T) {
	st := mustLoad(t, `
services:
  web:
    image: nginx:1.25
  job:
    command: ["sleep", "1"]
`)
	if got := service(t, st, "st_web").Labels[api.StackImageLabel]; got != "nginx:1.25" {
		t.Errorf("st_web label %s = %q, want nginx:1.25", api.StackImageLabel, got)
	}
	if got, ok := service(t, st, "st_job").Labels[api.StackImageLabel]; ok {
		t.Errorf("process service st_job has label %s = %q, want none", api.StackImageLabel, got)
	}
}
