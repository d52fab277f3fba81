package e2e

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// A process service with a secret and a config finds both under
// $SHOAL_FILES, with their content and modes; the secret is on tmpfs, and
// is in clear nowhere in the Raft state.
func TestProcessTaskSeesItsSecretAndConfig(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != 0x01021994 {
		t.Skip("/dev/shm is not a tmpfs here: process tasks cannot get secrets")
	}
	d, c := devCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	secret := "e2e-S3cret-" + api.NewID()
	if _, err := c.SecretCreate(ctx, api.SecretSpec{Name: "db-pass", Data: []byte(secret)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfigCreate(ctx, api.ConfigSpec{Name: "app.yml", Data: []byte("port: 8080")}); err != nil {
		t.Fatal(err)
	}
	// The task reports what it sees, then stays up.
	script := `f="$SHOAL_FILES"
echo "files=$f"
echo "secret=$(cat "$f/run/secrets/db-pass") mode=$(stat -L -c %a "$f/run/secrets/db-pass")"
echo "config=$(cat "$f/etc/app.yml") mode=$(stat -L -c %a "$f/etc/app.yml")"
echo "custom=$(cat "$f/opt/pw") mode=$(stat -L -c %a "$f/opt/pw")"
echo done
exec sleep 300`
	spec := processSpec("filesvc", 1, "/bin/sh", "-c", script)
	spec.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{
		{SecretName: "db-pass", File: &api.FileTarget{Mode: 0o400}},
		{SecretName: "db-pass", File: &api.FileTarget{Name: "/opt/pw", Mode: 0o440}},
	}
	spec.TaskTemplate.ContainerSpec.Configs = []api.ConfigReference{{ConfigName: "app.yml", File: &api.FileTarget{Name: "/etc/app.yml", Mode: 0o640}}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "filesvc", "a running task", nRunning(1))
	tk := running(tasks)[0]
	taskDir := filepath.Join(d.DataDir(), "tasks", tk.ID)
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(taskDir, "stdout.log"))
		if out = string(b); strings.Contains(out, "done\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task never reported its files; stdout %q", out)
		}
	}
	want := "files=" + filepath.Join(taskDir, "files") + "\n" +
		"secret=" + secret + " mode=400\n" +
		"config=port: 8080 mode=640\n" +
		"custom=" + secret + " mode=440\n" +
		"done\n"
	if out != want {
		t.Fatalf("the task saw:\n%s\nwant:\n%s", out, want)
	}
	// The secret's file is on tmpfs, not in the task folder.
	target, err := filepath.EvalSymlinks(filepath.Join(taskDir, "files", "run", "secrets", "db-pass"))
	if err != nil || !strings.HasPrefix(target, "/dev/shm/shoal/"+d.NodeID()+"/"+tk.ID+"/") {
		t.Fatalf("secret file resolves to %q (%v), want a file under /dev/shm/shoal/NODE/TASK", target, err)
	}

	// Nowhere in the data folder (Raft log, snapshots, task folders) in
	// clear, but for the output the task printed itself.
	err = filepath.WalkDir(d.DataDir(), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Type()&fs.ModeSymlink != 0 || strings.HasSuffix(p, ".sock") || strings.HasSuffix(p, ".log") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a file that went meanwhile
		}
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(secret)), "="))) {
			t.Errorf("%s holds the secret in clear", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// In use: neither goes. Once the service is gone, both do, and the
	// task's secrets with it.
	if err := c.SecretRemove(ctx, "db-pass"); err == nil || !strings.Contains(err.Error(), "in use by service filesvc") {
		t.Errorf("remove a secret in use: %v", err)
	}
	removeAll(t, c)
	if _, err := os.Stat(filepath.Dir(target)); !os.IsNotExist(err) {
		t.Errorf("the task's secrets outlived it: %v", err)
	}
	if err := c.SecretRemove(ctx, "db-pass"); err != nil {
		t.Error(err)
	}
	if err := c.ConfigRemove(ctx, "app.yml"); err != nil {
		t.Error(err)
	}
}
