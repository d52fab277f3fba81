package cli

import (
	"testing"

	"github.com/spf13/cobra"
)

// TestIngressEncodedSeparatorFlags: --ingress-allow-encoded-slash and
// --ingress-allow-encoded-backslash reach the ingress configuration, off
// by default.
func TestIngressEncodedSeparatorFlags(t *testing.T) {
	for _, c := range []struct {
		args             []string
		slash, backslash bool
	}{
		{nil, false, false},
		{[]string{"--ingress-allow-encoded-slash"}, true, false},
		{[]string{"--ingress-allow-encoded-backslash"}, false, true},
	} {
		var f ingressFlags
		cmd := &cobra.Command{}
		f.add(cmd)
		if err := cmd.Flags().Parse(c.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AllowEncodedSlash != c.slash || cfg.AllowEncodedBackslash != c.backslash {
			t.Errorf("%v: config %+v", c.args, cfg)
		}
	}
}
