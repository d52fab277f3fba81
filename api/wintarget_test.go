package api_test

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestWindowsPathMapsAbsoluteTargets(t *testing.T) {
	for in, want := range map[string]string{
		`C:\web-app\configs\config.json`:   `C:\web-app\configs\config.json`,
		`c:\web-app\config\log4net.config`: `C:\web-app\config\log4net.config`,
		`D:/db/config/sa-password.txt`:     `D:\db\config\sa-password.txt`,
		`C:\a\\b\`:                         `C:\a\b`,
	} {
		got, err := api.WindowsPath(in)
		if err != nil || got != want {
			t.Errorf("WindowsPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestWindowsPathRefusesEscapesAndDevices(t *testing.T) {
	for _, in := range []string{
		``, `config.json`, `\app\x`, `/app/x`, `C:`, `C:app\x`, `C:\`, `C:\\`,
		`C:\app\..\..\Windows\System32\x`, `C:\app\.\x`, `C:/app/../x`,
		`\\server\share\x`, `//server/share/x`, `\\?\C:\x`, `\\.\pipe\docker_engine`,
		`C:\app\NUL`, `C:\app\nul.txt`, `C:\app\COM1`, `C:\LPT9.log`, `C:\app\CON \x`,
		`C:\app\x.txt:stream`, `C:\app\a*b`, `C:\app\a?`, `C:\app\a|b`, "C:\\app\\a\x00b",
		`C:\app\x.`, `C:\app\x `, `1:\x`, `CC:\x`,
		// Windows reads superscript 1, 2 and 3 as digits in device names.
		`C:\app\COM¹`, `C:\app\lpt².txt`, `C:\app\COM³`,
	} {
		if got, err := api.WindowsPath(in); err == nil {
			t.Errorf("WindowsPath(%q) = %q, want an error", in, got)
		} else if !strings.Contains(err.Error(), "absolute Windows path") {
			t.Errorf("WindowsPath(%q): %v, want the expected form named", in, err)
		}
	}
}

func TestTargetOnWindows(t *testing.T) {
	cases := []struct {
		ref  interface{ TargetOn(string) (string, error) }
		want string
	}{
		{api.ConfigReference{ConfigName: "cfg", File: &api.FileTarget{Name: `C:\web-app\configs\config.json`}}, `C:\web-app\configs\config.json`},
		{api.ConfigReference{ConfigName: "cfg"}, `C:\ProgramData\Docker\configs\cfg`},
		{api.SecretReference{SecretName: "pw"}, `C:\ProgramData\Docker\secrets\pw`},
		{api.SecretReference{SecretName: "pw", File: &api.FileTarget{Name: `sub\pw.txt`}}, `C:\ProgramData\Docker\secrets\sub\pw.txt`},
	}
	for _, c := range cases {
		got, err := c.ref.TargetOn("windows")
		if err != nil || got != c.want {
			t.Errorf("%+v on windows: %q, %v; want %q", c.ref, got, err, c.want)
		}
	}
	for _, ref := range []api.SecretReference{
		{SecretName: "pw", File: &api.FileTarget{Name: `..\..\Windows\x`}},
		{SecretName: "pw", File: &api.FileTarget{Name: `/run/secrets/pw`}},
	} {
		if got, err := ref.TargetOn("windows"); err == nil {
			t.Errorf("%+v on windows: %q, want an error", ref, got)
		}
	}
	// Linux keeps its POSIX targets.
	if got, err := (api.SecretReference{SecretName: "pw"}).TargetOn("linux"); err != nil || got != "/run/secrets/pw" {
		t.Errorf("on linux: %q, %v", got, err)
	}
}

// The manager accepts Windows targets for a service pinned to Windows
// nodes, refuses bad ones there, refuses a drive-letter target for a
// service pinned to Linux, and leaves the targets of a service pinned to
// no OS to the node that runs it.
func TestValidateFileTargetsByPlatform(t *testing.T) {
	spec := func(constraint, target string) *api.ServiceSpec {
		s := &api.ServiceSpec{Name: "web", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}}}
		s.TaskTemplate.ContainerSpec = api.ContainerSpec{Image: "web:1",
			Configs: []api.ConfigReference{{ConfigName: "cfg", File: &api.FileTarget{Name: target}}}}
		if constraint != "" {
			s.TaskTemplate.Placement = &api.Placement{Constraints: []string{constraint}}
		}
		return s
	}
	for _, c := range []struct {
		constraint, target string
		ok                 bool
	}{
		{"node.platform.os == windows", `C:\web-app\configs\config.json`, true},
		{"node.platform.os==Windows", `config.json`, true},
		{"node.platform.os == windows", `C:\web-app\..\x`, false},
		{"node.platform.os == windows", `\\server\share\x`, false},
		{"node.platform.os == windows", `/app/config.json`, false},
		{"node.platform.os == linux", `/app/configs/config.json`, true},
		{"", `/app/configs/config.json`, true},
		{"", `C:\web-app\configs\config.json`, true},
		{"node.platform.os != windows", `C:\web-app\configs\config.json`, true},
		{"node.platform.os == linux", `C:\web-app\configs\config.json`, false},
	} {
		err := spec(c.constraint, c.target).Validate()
		if (err == nil) != c.ok {
			t.Errorf("%q target %q: %v, want ok=%v", c.constraint, c.target, err, c.ok)
		}
		if err != nil {
			fields, _ := api.FieldErrors(err)
			if len(fields) != 1 || strings.Join(fields[0].Path, ".") != "TaskTemplate.ContainerSpec.Configs.0.File.Name" {
				t.Errorf("%q target %q: %v, want one error naming the target's field", c.constraint, c.target, err)
			}
		}
	}
}
