package daemon

import "log/slog"

// raiseFileLimit does nothing: Windows has no open-file limit per
// process to raise (its handle table holds millions).
func raiseFileLimit(*slog.Logger) {}

// windowsFileBudget stands for the open-file limit on Windows, so that the
// ingress and the routing mesh keep a connection limit (proxyShare) there
// too: 16384 gives each 3072 connections.
const windowsFileBudget = 16384

// openFileLimit is windowsFileBudget.
func openFileLimit() uint64 { return windowsFileBudget }
