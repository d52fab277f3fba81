// Package api holds shoal's public types: the specs users write (what they
// want), the objects the cluster stores (what is), the messages agents and
// managers exchange, and their validation. Its JSON form is the wire format of
// the HTTP API. It imports nothing else of shoal's.
package api
