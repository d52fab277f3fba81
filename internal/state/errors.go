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
)
