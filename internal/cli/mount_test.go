package cli

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestParseMount(t *testing.T) {
	m, err := parseMount("type=bind,src=/srv/data,dst=/data,readonly")
	if err != nil || m.Type != api.MountBind || m.Source != "/srv/data" || m.Target != "/data" || !m.ReadOnly {
		t.Fatalf("bind: %+v %v", m, err)
	}
	m, err = parseMount("source=cache,target=/cache,volume-label=tier=fast")
	if err != nil || m.Type != api.MountVolume || m.VolumeLabels["tier"] != "fast" {
		t.Fatalf("volume default: %+v %v", m, err)
	}
	m, err = parseMount("type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=1777")
	if err != nil || m.TmpfsSize != 64<<20 || m.TmpfsMode != 0o1777 {
		t.Fatalf("tmpfs: %+v %v", m, err)
	}
	for _, bad := range []string{"type=nfs,target=/x", "source=x", "type=bind,target=/x", "type=tmpfs,source=x,target=/y", "target=/x,colour=red", "target=/x,readonly=maybe", "target=/x,tmpfs-mode=9z"} {
		if _, err := parseMount(bad); err == nil || !strings.Contains(err.Error(), "invalid --mount") {
			t.Errorf("%q: %v, want an invalid --mount error", bad, err)
		}
	}
}
