package api

import (
	"fmt"
	"path"
	"regexp"
)

// Network drivers and scope.
const (
	// DefaultNetworkDriver is the driver of a network that names none.
	DefaultNetworkDriver = "overlay"
	// NetworkScopeSwarm is the scope of every cluster network.
	NetworkScopeSwarm = "swarm"
)

// Config and secret names are Swarm's: letters, digits, '-', '_' and '.',
// starting and ending with a letter or digit, so file-like names such as
// "nginx.conf" work as they do with docker.
var fileObjectNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?$`)

// maxFileObjectName is Swarm's limit on config and secret names.
const maxFileObjectName = 64

// ValidateFileObjectName checks the name of a config or secret; kind names
// the object in the error.
func ValidateFileObjectName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", kind)
	}
	if len(name) > maxFileObjectName {
		return fmt.Errorf("invalid %s name %q: longer than %d characters", kind, name, maxFileObjectName)
	}
	if !fileObjectNameRE.MatchString(name) {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit", kind, name)
	}
	return nil
}

// network driver names: a plugin name may carry a namespace and tag.
var networkDriverRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/:-]*$`)

// ValidateNetworkDriver checks a network driver name.
func ValidateNetworkDriver(driver string) error {
	if len(driver) > 128 || !networkDriverRE.MatchString(driver) {
		return fmt.Errorf("invalid network driver %q", driver)
	}
	return nil
}

// Where configs and secrets land inside a task by default.
const (
	SecretsDir = "/run/secrets"
	ConfigsDir = "/"
)

// fileTarget resolves a file target: an absolute Name as is, a relative one
// under dir, none at dir/name.
func fileTarget(f *FileTarget, dir, name string) string {
	if f == nil || f.Name == "" {
		return path.Join(dir, name)
	}
	if path.IsAbs(f.Name) {
		return path.Clean(f.Name)
	}
	return path.Join(dir, f.Name)
}

// Target is the absolute path of the secret's file in a task.
func (r SecretReference) Target() string { return fileTarget(r.File, SecretsDir, r.SecretName) }

// Target is the absolute path of the config's file in a task.
func (r ConfigReference) Target() string { return fileTarget(r.File, ConfigsDir, r.ConfigName) }
