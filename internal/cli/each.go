package cli

import (
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/internal/cli/format"
)

// fetchEach gets every ref, as the docker CLI's inspect does: what is
// found, and a "no such KIND: REF" error for each one that is not.
func fetchEach[T any](kind string, refs []string, get func(ref string) (T, error)) ([]T, []error) {
	var found []T
	var errs []error
	for _, ref := range refs {
		obj, err := get(ref)
		if err != nil {
			errs = append(errs, noSuch(kind, ref, err))
			continue
		}
		found = append(found, obj)
	}
	return found, errs
}

// printInspect prints what fetchEach found (JSON, or tmpl for each) and
// returns its errors: some found and some not prints the found ones and
// fails, as docker inspect does.
func printInspect[T any](a *app, found []T, errs []error, tmpl string) error {
	if len(found) > 0 || len(errs) == 0 {
		if err := format.Inspect(a.stdout, found, tmpl); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// removeEach removes every ref and prints each one removed.
func (a *app) removeEach(kind string, refs []string, remove func(ref string) error) error {
	var errs []error
	for _, ref := range refs {
		if err := remove(ref); err != nil {
			errs = append(errs, noSuch(kind, ref, err))
			continue
		}
		fmt.Fprintln(a.stdout, ref)
	}
	return errors.Join(errs...)
}
