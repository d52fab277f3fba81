package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FieldError is a problem with one field of a spec. Validate and its
// siblings return them joined (errors.Join), so a caller can place each
// problem: a stack file's loader maps Path back to the compose key that
// set the field, with its line.
//
// Path names the field by the spec's JSON names, one segment each:
// {"TaskTemplate", "RestartPolicy", "Condition"}; an element of a list
// adds its index ({"EndpointSpec", "Ports", "1", "Protocol"}) and an entry
// of a map its key ({"Labels", "traefik.http.routers.web.rule"}). An empty
// Path is the whole spec.
type FieldError struct {
	Path []string
	// Msg says what is wrong, naming the field in words ("restart
	// condition \"x\": want any, on-failure or none").
	Msg string
}

// Error returns Msg: the message names the field already, and is what
// the API answers.
func (e *FieldError) Error() string { return e.Msg }

// PathString renders Path as "EndpointSpec.Ports[1].Protocol".
func (e *FieldError) PathString() string { return JoinPath(e.Path) }

// JoinPath renders path segments with dots, an index in brackets:
// {"EndpointSpec", "Ports", "1"} is "EndpointSpec.Ports[1]".
func JoinPath(segs []string) string {
	var b strings.Builder
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil && i > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// fieldErr makes a FieldError at path.
func fieldErr(path []string, format string, a ...any) *FieldError {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)}
}

// fieldsAt returns err as FieldErrors at path: the FieldErrors in it (joined)
// get path in front of theirs, any other error is placed at path.
func fieldsAt(path []string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range SplitErrors(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, &FieldError{Path: join(path, fe.Path...), Msg: fe.Msg})
			continue
		}
		out = append(out, &FieldError{Path: path, Msg: e.Error()})
	}
	return errors.Join(out...)
}

// join returns a new path: p, then more.
func join(p []string, more ...string) []string {
	out := make([]string, 0, len(p)+len(more))
	return append(append(out, p...), more...)
}

// SplitErrors lists the errors of a tree of joined errors (errors.Join);
// nil gives none.
func SplitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, SplitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// FieldErrors lists the problems in err (a tree of joined errors, as
// Validate returns): those placed at a field, and the others.
func FieldErrors(err error) (fields []*FieldError, other []error) {
	for _, e := range SplitErrors(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe)
			continue
		}
		other = append(other, e)
	}
	return fields, other
}
