package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// maxUnlockBody bounds an unlock request (a key of 54 characters).
const maxUnlockBody = 4096

// unlocked is a key that opened the locked file, and what it opened.
type unlocked struct {
	key *unlockkey.Key
	raw []byte
}

// waitUnlock serves the API socket of a locked manager until an
// operator gives the unlock key that opens file (POST /v1/swarm/unlock,
// `shoal swarm unlock`), or ctx ends. Every other call is refused with
// api.LockedMessage. It returns the key and the secrets key.
func waitUnlock(ctx context.Context, socket string, file []byte, log *slog.Logger) (*unlockkey.Key, []byte, error) {
	ln, err := listenPrivate(socket, "socket")
	if err != nil {
		return nil, nil, err
	}
	// The first good key wins; another one finds the channel full.
	done := make(chan unlocked, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/swarm/unlock", func(w http.ResponseWriter, r *http.Request) {
		var req api.UnlockRequest
		if err := httpjson.Decode(w, r, &req, maxUnlockBody); err != nil {
			httpjson.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		k, err := unlockkey.Parse(req.UnlockKey)
		var raw []byte
		if err == nil {
			raw, err = unlockkey.Unlock(k, file)
		}
		if errors.Is(err, unlockkey.ErrInvalid) {
			log.Warn("unlock refused: wrong unlock key")
			httpjson.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err != nil {
			httpjson.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		select {
		case done <- unlocked{k, raw}:
		default: // unlocked already
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusServiceUnavailable, api.LockedMessage)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	log.Warn(api.LockedMessage+": the secret key in the data folder is encrypted by the cluster's unlock key (autolock); "+
		"Raft and this node's agent wait for it, and running tasks keep running", "socket", socket)
	var got unlocked
	select {
	case got = <-done:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	<-served
	if got.key == nil {
		return nil, nil, fmt.Errorf("still locked: %w", ctx.Err())
	}
	log.Info("unlocked")
	return got.key, got.raw, nil
}

// listenPrivate listens on the unix socket path, mode 0600 (what names
// it in errors). We hold the data folder's lock, so a socket file left
// there is stale.
func listenPrivate(path, what string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale %s: %w", what, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict %s: %w", what, err)
	}
	return ln, nil
}
