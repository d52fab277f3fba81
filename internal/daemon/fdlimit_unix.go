//go:build !windows

package daemon

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and
// logs both. Go's
// runtime already raises it (to hard-1) as the program starts, and
// restores the original in the processes it starts, so that tasks keep
// the limit shoal was given; Setrlimit would end that restoring, so it is
// called only when the runtime has not raised the limit.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("read the open-file limit", "err", err)
		return
	}
	if lim.Max > 0 && lim.Cur < lim.Max-1 {
		raised := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("raise the open-file limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		} else {
			lim = raised
		}
	}
	// Debug, not Info: a start that is refused (a damaged data folder)
	// prints its one error line and nothing else.
	log.Debug("open-file limit", "soft", lim.Cur, "hard", lim.Max)
	if lim.Cur < 1024 {
		log.Warn("the open-file limit is low; raise it (ulimit -n, LimitNOFILE=) for many tasks or clients", "limit", lim.Cur)
	}
}

// openFileLimit is the soft RLIMIT_NOFILE, 0 when unknown.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	return lim.Cur
}
