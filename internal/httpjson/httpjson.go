// Package httpjson reads JSON request bodies within a size limit, the
// same way for every listener that takes them (the API, the agent link),
// and writes JSON answers and errors (api.Error) for the agent link and
// the managers' own requests.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/shoalproject/shoal/api"
)

// ErrTooLarge marks a body over the limit (413).
var ErrTooLarge = errors.New("request body too large")

// ErrMalformed marks a body that is not one JSON value of the wanted
// shape (400).
var ErrMalformed = errors.New("malformed JSON body")

// Decode reads r's body into v: exactly one JSON value, no unknown fields,
// at most limit bytes. A body over the limit is ErrTooLarge whatever it
// holds: one announced as longer is refused unread, and one that fails to
// parse is read on to the limit first, so that a padded or garbled large
// body is never mistaken for a merely malformed one.
func Decode(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	tooLarge := tooLargeError{limit}
	if r.ContentLength > limit {
		return tooLarge
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	_, rest := io.Copy(io.Discard, body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.As(rest, &tooBig) {
		return tooLarge
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// tooLargeError is ErrTooLarge with the limit in its text.
type tooLargeError struct{ limit int64 }

func (e tooLargeError) Error() string {
	return fmt.Sprintf("request body larger than %d bytes", e.limit)
}

func (e tooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Write answers code with v as JSON.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers code with msg as an api.Error.
func WriteError(w http.ResponseWriter, code int, msg string) {
	Write(w, code, api.Error{Message: msg})
}
