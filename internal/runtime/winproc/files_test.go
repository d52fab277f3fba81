package winproc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

func TestTargetPath(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range []struct {
		target string
		want   string // joined by "/"; "" when refused
	}{
		{`C:\web-app\configs\config.json`, "C/web-app/configs/config.json"},
		{`C:\ProgramData\Docker\secrets\db`, "C/ProgramData/Docker/secrets/db"},
		{`D:\x`, "D/x"},
		// Two targets that differ in case only are one file on Windows.
		{`c:\WEB-APP\configs\CONFIG.json`, ""},
		{`C:\Web-App\Configs\Config.json`, ""},
		// Not as api.WindowsPath maps them: the agent maps targets first.
		{`C:/app/x`, ""},
		{`C:\app\..\x`, ""},
		{`\\server\share\x`, ""},
		{`C:\app\NUL`, ""},
		{`C:\app\x:stream`, ""},
		{"/etc/app.yml", ""},
		{"app.yml", ""},
	} {
		got, err := targetPath(runtime.File{Target: c.target}, seen)
		if c.want == "" {
			if !errors.Is(err, runtime.ErrRejected) {
				t.Errorf("%s: %v, %v; want ErrRejected", c.target, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, "/") != c.want {
			t.Errorf("%s: %v, %v; want %s", c.target, got, err, c.want)
		}
	}
}

// Configs and secrets are files below the task's folder, found through
// SHOAL_FILES, and deleted when the task exits; its logs stay.
func TestConfigsAndSecretsAreFiles(t *testing.T) {
	r := newRuntime(t, &fakeJobs{}, t.TempDir())
	spec := shSpec("t1", `cat "$SHOAL_FILES/C/web-app/configs/config.json" "$SHOAL_FILES/C/ProgramData/Docker/secrets/db"; echo " $SHOAL_FILES"`)
	spec.Container.Env = append(spec.Container.Env, "SHOAL_FILES=spoofed")
	spec.Files = []runtime.File{
		{Target: `C:\web-app\configs\config.json`, Data: []byte("cfg")},
		// UID and GID mean nothing on Windows, as in Docker.
		{Target: `C:\ProgramData\Docker\secrets\db`, Data: []byte("pw"), Secret: true, Mode: 0o400, UID: "1000"},
	}
	if _, err := r.Start(ctxT(t), spec); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Wait(ctxT(t), "t1"); err != nil || st.ExitCode != 0 || st.Message != "exited with code 0" {
		t.Fatalf("Wait: %+v, %v", st, err)
	}
	files := filepath.Join(r.root, "t1", filesDir)
	stdout, _, _ := r.LogPaths("t1")
	if out, _ := os.ReadFile(stdout); string(out) != "cfgpw "+files+"\n" {
		t.Errorf("stdout %q, want the files' data and %s", out, files)
	}
	if _, err := os.Stat(files); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files after the task exited: %v", err)
	}
	if _, err := os.Stat(stdout); err != nil {
		t.Errorf("log after the task exited: %v", err)
	}
}

// The files are written relative to the task's folder as privdir opened
// and checked it: a files folder that was there already, or a link in a
// folder's place, is refused, not followed.
func TestFilesNotWrittenThroughLinks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t1")
	outside := t.TempDir()
	files := filepath.Join(dir, filesDir)
	if err := os.MkdirAll(files, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := writeFiles(dir, []runtime.File{{Target: `C:\x`}}); err == nil {
		t.Error("writeFiles reused a files folder that was there")
	}
	if err := os.Symlink(outside, filepath.Join(files, "C")); err != nil {
		t.Fatal(err)
	}
	top, err := privdir.Open(files)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	for _, target := range []string{`C:\x`, `C:\app\x`} {
		p, err := targetPath(runtime.File{Target: target}, map[string]bool{})
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFile(top, p, runtime.File{Target: target, Data: []byte("x")}); err == nil {
			t.Errorf("%s: written through a link", target)
		}
	}
	if names, _ := os.ReadDir(outside); len(names) != 0 {
		t.Errorf("written outside the task's folder: %v", names)
	}
}
