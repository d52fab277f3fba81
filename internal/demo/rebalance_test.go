package demo

import (
	"context"
	"strings"
	"testing"
)

// Without extra nodes the last step is told, says so and why, and does
// not touch the cluster (no client).
func TestRebalanceStepToldWithoutNodes(t *testing.T) {
	var out strings.Builder
	say := func(title, body string) error {
		out.WriteString("== " + title + "\n" + body + "\n")
		return nil
	}
	result := func(string, ...any) { t.Error("a told step printed a result") }
	if err := rebalanceStep(context.Background(), nil, "http://localhost:8080", Extra{Why: "the reason"}, say, result, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"(told, not played)", "The tour does not play this step: the reason.", "shoal service update --force signup_reference-data-api"} {
		if !strings.Contains(s, want) {
			t.Errorf("the told step lacks %q:\n%s", want, s)
		}
	}
}
