// Package stack holds the signup example's stack files, embedded so that
// `shoal demo` deploys exactly the files a reader replays by hand.
package stack

import "embed"

// Files are infrastructure.yml and signup-v1.yml, -v2.yml, -v3.yml for
// the process runtime; the same in docker/ for containers, and the
// Dockerfile of their image.
//
//go:embed *.yml docker/*.yml Dockerfile
var Files embed.FS
