package state

import (
	"errors"

	"github.com/shoalproject/shoal/internal/allocator"
)

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
	// ErrInvalid refuses a write whose content is wrong as sent (the API
	// checks first; the FSM checks again, as it must stay consistent).
	ErrInvalid = errors.New("invalid")
	// ErrOverlap refuses a network whose subnet overlaps another's.
	ErrOverlap = errors.New("subnet overlaps another network")
	// ErrPortInUse refuses a service that publishes a port another
	// service publishes.
	ErrPortInUse = errors.New("published port in use")
	// ErrExhausted refuses an allocation for which nothing is free: no
	// subnet, address, VXLAN ID or published port.
	ErrExhausted = allocator.ErrExhausted
	// ErrRemoved refuses registering a node an operator removed.
	ErrRemoved = errors.New("node removed from the cluster")
	// ErrPoolFixed refuses a change of the cluster's address pool.
	ErrPoolFixed = errors.New("address pool cannot change")
)
