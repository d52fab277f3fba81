package cli

import (
	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/metrics"
)

// metricsFlags are --metrics and --metrics-token-file, of managers and
// agents alike.
type metricsFlags struct {
	addr, tokenFile string
}

func (f *metricsFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&f.addr, "metrics", "", what)
	cmd.Flags().StringVar(&f.tokenFile, "metrics-token-file", "", "file (mode 0600) holding the bearer token Prometheus sends to --metrics (at least 16 characters)")
}

// token checks the flags and reads the token; nil without --metrics.
func (f *metricsFlags) token(cmd *cobra.Command) ([]byte, error) {
	switch {
	case f.addr != "" && f.tokenFile == "":
		return nil, usagef(cmd, "--metrics needs --metrics-token-file: the metrics listener takes only requests bearing that token")
	case f.tokenFile != "" && f.addr == "":
		return nil, usagef(cmd, "--metrics-token-file needs --metrics ADDR")
	case f.addr == "":
		return nil, nil
	}
	tok, err := metrics.ReadToken(f.tokenFile)
	if err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	return tok, nil
}
