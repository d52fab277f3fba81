//go:build !linux && !windows

package privdir

// Dir is an open folder whose operations stay inside it (rootdir.go).
// Its methods are safe for concurrent use, Close included: after Close
// they fail with ErrClosed.
type Dir = rootDir

// Open opens the folder at path, making it (mode 0700) if it is missing.
// Unlike on Linux and Windows, neither it nor its parent is checked for
// owner or permissions: see the package comment.
func Open(path string) (*Dir, error) { return openRoot(path, nil) }
