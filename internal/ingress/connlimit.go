package ingress

// The connection limit: Options.MaxConns bounds the client connections
// a Proxy holds open at once, over Serve and ServeTLS together (Proxy
// .clients, a connlimit.Limiter, whose package says why one past the
// limit is closed at once). A connection is counted from its accept to
// its close, wherever it is served: on the fast path (Serve admits it
// and fconn.serve releases it), by net/http after a handoff (replayConn
// releases it when net/http closes it) or on ServeTLS (the limiter's
// listener).
