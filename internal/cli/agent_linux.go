package cli

import (
	"os"
	"syscall"

	"github.com/spf13/cobra"
)

// promotable: a Linux node can become a manager (--listen-addr).
const promotable = true

// checkTokenFileOwner refuses a --token-file other users may read, or
// that another user owns.
func checkTokenFileOwner(cmd *cobra.Command, file string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return usagef(cmd, "--token-file %s has mode %04o: other users may read the join token; chmod 600 %s", file, perm, file)
	}
	// Another user's file is theirs to read, or to fill with a token
	// of their choosing.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return usagef(cmd, "--token-file %s is owned by uid %d, not by this user (uid %d) or root: that user may have chosen or read the join token; "+
			"write the token to a file of your own", file, st.Uid, os.Geteuid())
	}
	return nil
}
