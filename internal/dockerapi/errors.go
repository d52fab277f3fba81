package dockerapi

import (
	"net/http"
	"regexp"
)

var (
	notFoundMsg = regexp.MustCompile(`^(service|node|task|config|secret|network) (\S+): not found$`)
	conflictMsg = regexp.MustCompile(`(service|config|secret|network) "([^"]+)" already exists$`)
)

// dockerMessage words an error of shoal's API as dockerd words the same
// error from Swarm, so that the docker CLI prints the lines Swarm users know
// (recorded in internal/cli/testdata/parity: err-*-missing, api-*-conflict).
// Other messages are shoal's own.
func dockerMessage(code int, msg string) string {
	switch code {
	case http.StatusNotFound:
		if m := notFoundMsg.FindStringSubmatch(msg); m != nil {
			return m[1] + " " + m[2] + " not found"
		}
	case http.StatusConflict:
		m := conflictMsg.FindStringSubmatch(msg)
		if m == nil {
			break
		}
		switch m[1] {
		case "service":
			return "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service " + m[2] + " already exists"
		case "network":
			return "network with name " + m[2] + " already exists"
		default:
			return "rpc error: code = AlreadyExists desc = " + m[1] + " " + m[2] + " already exists"
		}
	}
	return msg
}
