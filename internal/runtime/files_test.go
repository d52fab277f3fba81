package runtime_test

import (
	"errors"
	"testing"

	"github.com/shoalproject/shoal/internal/runtime"
)

func TestCheckTargetOnWindows(t *testing.T) {
	seen := map[string]bool{}
	ok := runtime.File{Target: `C:\web-app\configs\config.json`}
	if err := ok.CheckTargetOn("windows", seen); err != nil {
		t.Fatalf("mapped Windows target: %v", err)
	}
	// Windows paths ignore case: the same file twice.
	if err := (runtime.File{Target: `C:\WEB-APP\configs\config.json`}).CheckTargetOn("windows", seen); !errors.Is(err, runtime.ErrRejected) {
		t.Fatalf("same file in another case: %v, want rejected", err)
	}
	for _, target := range []string{`c:\app\x`, `C:/app/x`, `C:\app\..\x`, `/etc/app.yml`, `\\server\share\x`, `C:\app\NUL`} {
		if err := (runtime.File{Target: target}).CheckTargetOn("windows", map[string]bool{}); !errors.Is(err, runtime.ErrRejected) {
			t.Errorf("%q on windows: %v, want rejected", target, err)
		}
	}
	// Linux keeps its POSIX check.
	if err := (runtime.File{Target: `C:\app\x`}).CheckTargetOn("linux", map[string]bool{}); !errors.Is(err, runtime.ErrRejected) {
		t.Errorf("Windows target on linux: %v, want rejected", err)
	}
	if err := (runtime.File{Target: "/etc/app.yml"}).CheckTargetOn("linux", map[string]bool{}); err != nil {
		t.Errorf("POSIX target on linux: %v", err)
	}
}
