package privdir

import (
	"os"

	"github.com/shoalproject/shoal/internal/winacl"
)

// Dir is an open folder whose operations stay inside it (rootdir.go).
// Its methods are safe for concurrent use, Close included: after Close
// they fail with ErrClosed.
type Dir = rootDir

// windowsACL are Windows' ACLs: folders made with a protected DACL for
// SYSTEM, Administrators and this user, and refused when anyone else may
// read or change them.
var windowsACL = &ACL{
	Mkdir:         winacl.Mkdir,
	Problem:       func(f *os.File) (string, error) { return winacl.Check(f, winacl.ReadWrite) },
	ParentProblem: winacl.CheckParent,
}

// Open opens the folder at path, making it private if it is missing: its
// parent must let no one else rename its entries, and the folder no one
// else read or change it (internal/winacl).
func Open(path string) (*Dir, error) { return openRoot(path, windowsACL) }
