package api

import (
	"fmt"
	"strings"
)

// Where configs and secrets land inside a task on a Windows node by
// default, as Docker puts them there.
const (
	WindowsSecretsDir = `C:\ProgramData\Docker\secrets`
	WindowsConfigsDir = `C:\ProgramData\Docker\configs`
)

// windowsReserved are the device names Windows resolves in any folder,
// with or without an extension: C:\app\NUL.txt is the null device.
var windowsReserved = map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true}

func init() {
	// Windows takes the superscripts ¹, ² and ³ for digits here too (as
	// Go's own filepath.IsLocal does on Windows).
	for _, n := range "123456789\u00b9\u00b2\u00b3" {
		windowsReserved["COM"+string(n)] = true
		windowsReserved["LPT"+string(n)] = true
	}
}

// WindowsPath maps a file target to a clean absolute Windows path: a
// drive letter, then folders, separated by '\' (a '/' is taken as one).
// It is pure, so the manager and the tests on Linux run exactly what a
// Windows node runs. It refuses rather than resolves what could leave the
// folder meant or name something other than a file: '..' and '.'
// elements, UNC (\\server\share) and device (\\?\, \\.\) paths,
// drive-relative (C:app) and rooted paths without a drive (\app), device
// names (NUL, COM1), alternate data streams (':' after the drive),
// characters Windows forbids in names, and elements ending in '.' or ' '
// (Windows drops those, so two targets could be one file).
func WindowsPath(target string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("file target %q: %s (want an absolute Windows path such as C:\\app\\config.json)", target, why)
	}
	p := strings.ReplaceAll(target, "/", `\`)
	if strings.HasPrefix(p, `\\`) {
		return bad("UNC and device paths are not allowed")
	}
	if len(p) < 2 || p[1] != ':' || !isASCIILetter(p[0]) {
		return bad("no drive letter")
	}
	if len(p) < 3 || p[2] != '\\' {
		return bad("relative to the drive's current folder")
	}
	elems := strings.Split(p[3:], `\`)
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		if e == "" {
			continue // C:\a\\b is C:\a\b
		}
		if err := checkWindowsElem(e); err != "" {
			return bad(err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return bad("the drive's root is not a file")
	}
	return strings.ToUpper(p[:1]) + `:\` + strings.Join(out, `\`), nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkWindowsElem explains why e cannot be a path element, or is empty.
func checkWindowsElem(e string) string {
	if e == "." || e == ".." {
		return "'.' and '..' elements are not allowed"
	}
	for _, c := range e {
		if c < 32 || strings.ContainsRune(`<>:"|?*`, c) {
			return fmt.Sprintf("character %q is not allowed in a name", c)
		}
	}
	if strings.HasSuffix(e, ".") || strings.HasSuffix(e, " ") {
		return fmt.Sprintf("name %q ends in '.' or ' '", e)
	}
	base, _, _ := strings.Cut(e, ".")
	if windowsReserved[strings.ToUpper(strings.TrimRight(base, " "))] {
		return fmt.Sprintf("%q is a device name", e)
	}
	return ""
}

// windowsFileTarget resolves a file target on a Windows node: an
// absolute Windows Name as WindowsPath maps it, a relative one under dir,
// none at dir\name. A POSIX absolute Name (/app/x) is refused: it has no
// drive.
func windowsFileTarget(f *FileTarget, dir, name string) (string, error) {
	if f != nil && f.Name != "" {
		name = f.Name
	}
	if len(name) >= 2 && name[1] == ':' || strings.HasPrefix(name, `\`) || strings.HasPrefix(name, "/") {
		return WindowsPath(name)
	}
	return WindowsPath(dir + `\` + name)
}

// TargetOn is the secret's file in a task on a node of the given OS
// (Platform.OS): Target on Linux, a Windows path on Windows.
func (r SecretReference) TargetOn(goos string) (string, error) {
	if goos == "windows" {
		return windowsFileTarget(r.File, WindowsSecretsDir, r.SecretName)
	}
	return r.Target(), nil
}

// TargetOn is the config's file in a task on a node of the given OS.
func (r ConfigReference) TargetOn(goos string) (string, error) {
	if goos == "windows" {
		return windowsFileTarget(r.File, WindowsConfigsDir, r.ConfigName)
	}
	return r.Target(), nil
}

// OnlyOn returns the OS a placement pins its tasks to with a
// node.platform.os == OS constraint, or "".
func (p *Placement) OnlyOn() string {
	if p == nil {
		return ""
	}
	for _, c := range p.ParsedConstraints() {
		if c.Key == "node.platform.os" && c.Equal {
			return strings.ToLower(c.Value)
		}
	}
	return ""
}

// checkFileTargets checks the configs' and secrets' targets against the
// platform the service is pinned to: on windows every target must map to
// a Windows path; on another OS a target with a drive letter is refused,
// since there it would be a file named "C:\..." under /. A service pinned
// to no OS keeps any target, as Docker does: its tasks may be meant for
// Windows nodes, and a Windows node refuses a target it cannot map when
// the task starts.
func (s *ServiceSpec) checkFileTargets(add func(path []string, format string, a ...any)) {
	goos := s.TaskTemplate.Placement.OnlyOn()
	c := s.TaskTemplate.ContainerSpec
	check := func(field string, i int, f *FileTarget, target func(string) (string, error)) {
		at := []string{"TaskTemplate", "ContainerSpec", field, fmt.Sprint(i), "File", "Name"}
		if goos == "windows" {
			if _, err := target("windows"); err != nil {
				add(at, "%v (the service runs on Windows nodes: node.platform.os == windows)", err)
			}
			return
		}
		if goos != "" && f != nil && len(f.Name) >= 2 && f.Name[1] == ':' && isASCIILetter(f.Name[0]) {
			add(at, "file target %q is a Windows path: constrain the service to Windows nodes (node.platform.os == windows)", f.Name)
		}
	}
	for i, r := range c.Configs {
		check("Configs", i, r.File, r.TargetOn)
	}
	for i, r := range c.Secrets {
		check("Secrets", i, r.File, r.TargetOn)
	}
}
