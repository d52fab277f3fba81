// Package bench measures shoal. Its benchmarks run with `go test -bench`
// and print their figures as custom metrics; docs/benchmarks.md records
// the results and the commands that reproduce them. Nothing here asserts a
// time: speed is measured, never tested.
package bench
