package state

import "errors"

// Errors a write can be refused with. Callers test them with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrNameConflict    = errors.New("name already in use")
	ErrVersionConflict = errors.New("changed by another writer")
	ErrStaleTransition = errors.New("task state cannot move backwards")
	// ErrAmbiguous is returned when a reference matches several objects.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrInUse refuses the removal of a config, secret or network that a
	// service names.
	ErrInUse = errors.New("in use")
	// ErrMissingRef refuses a service that names a config, secret or
	// network that does not exist.
	ErrMissingRef = errors.New("not found")
)
