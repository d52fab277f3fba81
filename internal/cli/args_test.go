package cli

import "testing"

// TestWrongArgumentCount checks that a wrong number of arguments exits 1
// with docker's wording, usage line and pointer to --help, as docker 28's
// does (testdata/parity/err-no-argument.txt), and changes nothing.
func TestWrongArgumentCount(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "inspect"}, "shoal: 'shoal service inspect' requires at least 1 argument\n\n" +
			"Usage:  shoal service inspect [OPTIONS] SERVICE [SERVICE...]\n\n" +
			"See 'shoal service inspect --help' for more information\n"},
		{[]string{"service", "create", "--name", "x"}, "shoal: 'shoal service create' requires at least 1 argument\n\n"},
		{[]string{"service", "ls", "web"}, "shoal: 'shoal service ls' accepts no arguments\n\n"},
		{[]string{"service", "update", "a", "b"}, "shoal: 'shoal service update' requires 1 argument\n\n"},
		{[]string{"service", "rollback", "a", "b"}, "shoal: 'shoal service rollback' requires 1 argument\n\n"},
		{[]string{"service", "history"}, "shoal: 'shoal service history' requires 1 argument\n\n"},
		{[]string{"config", "create", "x"}, "shoal: 'shoal config create' requires 2 arguments\n\n"},
		// service scale's specifiers, as docker's (exit 1, its words).
		{[]string{"service", "scale", "web"}, "Invalid scale specifier 'web'.\nSee 'shoal service scale --help'.\n\n" +
			"Usage:  shoal service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n"},
		{[]string{"service", "scale", "web=abc"}, "web: invalid replicas value abc: strconv.ParseUint: parsing \"abc\": invalid syntax\n"},
		{[]string{"service", "scale", "web=-1"}, "web: invalid replicas value -1: "},
	} {
		r := shoal(t, tc.args...)
		if r.code != ExitFailure || r.stdout != "" || len(r.stderr) < len(tc.want) || r.stderr[:len(tc.want)] != tc.want {
			t.Errorf("shoal %q: want exit %d, stderr starting %q: %s", tc.args, ExitFailure, tc.want, r)
		}
	}
}
