package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// Shell completion (cobra's `shoal completion bash|zsh|fish|powershell`)
// knows the cluster: a command's object arguments complete to the names
// the cluster has, read through the API when the shell asks, and flags
// with a fixed set of values complete to them.

// completeTimeout bounds one completion's API calls: a shell waits for it.
const completeTimeout = 3 * time.Second

// flagValues are the values of flags that take one of a few words.
var flagValues = map[string][]string{
	"update-order":            {api.UpdateOrderStartFirst, api.UpdateOrderStopFirst},
	"rollback-order":          {api.UpdateOrderStartFirst, api.UpdateOrderStopFirst},
	"update-failure-action":   {api.FailureActionPause, api.FailureActionContinue, api.FailureActionRollback},
	"rollback-failure-action": {api.FailureActionPause, api.FailureActionContinue},
	"mode":                    {"replicated", "global", "replicated-job", "global-job"},
	"endpoint-mode":           {"vip", "dnsrr"},
	"restart-condition":       {"none", "on-failure", "any"},
	"availability":            {"active", "pause", "drain"},
	"role":                    {"worker", "manager"},
	"resolve-image":           {"always", "changed", "never"},
}

// flagObjects are flags whose values name cluster objects.
var flagObjects = map[string]string{
	"network":     "NETWORK",
	"network-add": "NETWORK",
	"network-rm":  "NETWORK",
	"config":      "CONFIG",
	"config-add":  "CONFIG",
	"config-rm":   "CONFIG",
	"secret":      "SECRET",
	"secret-add":  "SECRET",
	"secret-rm":   "SECRET",
}

// addCompletions walks the command tree and gives each command's object
// arguments and flags their completions.
func addCompletions(a *app, cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		addCompletions(a, sub)
	}
	// create names a new object; the others name existing ones.
	if kind := argKind(cmd.Use); kind != "" && cmd.Name() != "create" && cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			names := a.objectNames(c.Context(), strings.TrimSuffix(kind, "=REPLICAS"))
			if strings.HasSuffix(kind, "=REPLICAS") {
				for i := range names {
					names[i] += "="
				}
				return names, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			}
			// An object named once is not offered again.
			names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) })
			return names, cobra.ShellCompDirectiveNoFileComp
		}
	}
	for name, values := range flagValues {
		if cmd.LocalNonPersistentFlags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	for name, kind := range flagObjects {
		if cmd.LocalNonPersistentFlags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, func(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return a.objectNames(c.Context(), kind), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
}

// argKind is the kind of object a command's usage line takes first
// ("SERVICE", "NODE", ..., "SERVICE=REPLICAS"), or "".
func argKind(use string) string {
	for _, w := range strings.Fields(use)[1:] {
		w = strings.Trim(w, "[].")
		switch w {
		case "SERVICE", "NODE", "NETWORK", "CONFIG", "SECRET", "STACK", "SERVICE=REPLICAS":
			return w
		case "SERVICE|TASK":
			return "SERVICE"
		}
	}
	return ""
}

// objectNames lists the names of the cluster's objects of kind, sorted;
// nothing when the cluster does not answer (completion stays quiet).
func (a *app) objectNames(ctx context.Context, kind string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	c, err := a.client()
	if err != nil {
		return nil
	}
	names, err := listNames(ctx, c, kind)
	if err != nil {
		return nil
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func listNames(ctx context.Context, c *client.Client, kind string) ([]string, error) {
	switch kind {
	case "SERVICE":
		return namesOf(ctx, c.ServiceList, func(s *api.Service) string { return s.Spec.Name })
	case "STACK":
		return namesOf(ctx, c.ServiceList, func(s *api.Service) string { return s.Spec.Labels[api.StackNamespaceLabel] })
	case "NODE":
		names, err := namesOf(ctx, c.NodeList, func(n *api.Node) string { return n.Description.Hostname })
		return append(names, "self"), err
	case "NETWORK":
		return namesOf(ctx, c.NetworkList, func(n *api.Network) string { return n.Spec.Name })
	case "CONFIG":
		return namesOf(ctx, c.ConfigList, func(o *api.Config) string { return o.Spec.Name })
	case "SECRET":
		return namesOf(ctx, c.SecretList, func(o *api.Secret) string { return o.Spec.Name })
	}
	return nil, nil
}

// namesOf lists objects and returns their non-empty names.
func namesOf[T any](ctx context.Context, list func(context.Context) ([]*T, error), name func(*T) string) ([]string, error) {
	objs, err := list(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		if n := name(o); n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}
