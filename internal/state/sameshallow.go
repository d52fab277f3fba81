package state

import (
	"math"
	"reflect"

	"github.com/shoalproject/shoal/api"
)

// sameShallow reports whether a and b hold equal scalars and the very
// same pointers, maps and slices (a copy of the other, as a task's spec
// is of its service's template). It implies reflect.DeepEqual, which
// takes these shortcuts too, but it allocates nothing: DeepEqual records
// every pointer, map and slice it visits in a map.
func sameShallow(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameShallow(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Array:
		for i := range a.Len() {
			if !sameShallow(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.UnsafePointer:
		return a.UnsafePointer() == b.UnsafePointer()
	case reflect.Slice:
		return a.IsNil() == b.IsNil() && a.Len() == b.Len() && a.UnsafePointer() == b.UnsafePointer()
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return a.Elem().Type() == b.Elem().Type() && sameShallow(a.Elem(), b.Elem())
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		// The same bits, and not NaN, which DeepEqual finds unequal to
		// itself (-0 and 0 differ in JSON).
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float()) && a.Float() == a.Float()
	case reflect.Complex64, reflect.Complex128:
		ca, cb := a.Complex(), b.Complex()
		return math.Float64bits(real(ca)) == math.Float64bits(real(cb)) && math.Float64bits(imag(ca)) == math.Float64bits(imag(cb)) && ca == ca
	default: // Func: equal only when both are nil, as for DeepEqual.
		return a.IsNil() && b.IsNil()
	}
}

// sameSpec is sameShallow for task specs.
func sameSpec(a, b *api.TaskSpec) bool {
	return sameShallow(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}
