package stack

import (
	"fmt"

	"github.com/shoalproject/shoal/api"
)

// notOwned says why an existing object named like one the stack creates
// is not the stack's, or returns nil when it is. docker stack deploy
// fails on such an object with a name conflict; a stack never takes over
// an object it did not create, since updating it would change another
// user's (or another stack's) object and stack rm would then delete it.
func notOwned(kind, name, stack string, labels map[string]string) error {
	ns, ok := labels[api.StackNamespaceLabel]
	switch {
	case ok && ns == stack:
		return nil
	case !ok || ns == "":
		return fmt.Errorf("%s %q exists and is not part of stack %s (it has no %s label): remove or rename it, or deploy under another stack name", kind, name, stack, api.StackNamespaceLabel)
	default:
		return fmt.Errorf("%s %q exists and is not part of stack %s (it belongs to stack %s): remove or rename it, or deploy under another stack name", kind, name, stack, ns)
	}
}
