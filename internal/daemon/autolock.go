package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// pathUnlockKey answers a manager's request for the cluster's current
// unlock key (manager certificates only).
const pathUnlockKey = "/manager/v1/unlock-key"

// autolock is a manager's side of Swarm's autolock. Raft holds the
// setting and the current unlock key's ID, never the key: every unlocked
// manager holds the key in memory (the operator gave it, this manager
// made it, or got it from another manager over mutual TLS), and locks
// its own DATA/raft/secret.key with it.
type autolock struct {
	mu sync.Mutex
	// raw is the secrets key, for (re)writing secret.key and for a
	// joining manager.
	raw []byte
	// keys are the unlock keys this manager holds, by ID.
	keys map[string]*unlockkey.Key
	// fileID names the key that locks secret.key, "" when it is plain.
	fileID string
	// made is the key made by this start's bootstrap, for the CLI.
	made *unlockkey.Key
	// scrubbed says the folder's join tokens admit nobody
	// (autolock_tokens.go).
	scrubbed atomic.Bool

	// apply makes one change of the file at a time; change one change
	// of the cluster's setting at a time, on the leader.
	apply, change sync.Mutex
}

func (l *autolock) key(id string) *unlockkey.Key {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[id]
}

func (l *autolock) add(k *unlockkey.Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*unlockkey.Key{}
	}
	l.keys[k.ID()] = k
}

// secretKeyPath is the manager's secrets key file.
func (d *Dev) secretKeyPath() string { return d.dir.Join("raft", secretkey.FileName) }

// openSecretKey reads the secrets key, when the folder has one. A locked
// one is opened with the unlock key an operator gives through
// `shoal swarm unlock` on the API socket (waitUnlock): until then
// nothing starts, not Raft, its port, nor the agent, whose tasks keep
// running meanwhile. It sets the API socket's path (socket, or the
// folder's shoal.sock). It returns nil when the folder has no key: a new
// cluster, a join, or damage, which manager.Start tells apart.
func (d *Dev) openSecretKey(ctx context.Context, socket string) (*secretkey.Key, error) {
	if d.socket = socket; socket == "" {
		d.socket = d.dir.Join("shoal.sock")
	}
	file, err := os.ReadFile(d.secretKeyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the secret key: %w", err)
	}
	locked, id, err := unlockkey.Locked(file)
	if err != nil {
		return nil, &cluster.DamagedError{File: d.secretKeyPath(), Problem: err.Error()}
	}
	raw := file
	if locked {
		var k *unlockkey.Key
		if k, raw, err = waitUnlock(ctx, d.socket, file, d.log); err != nil {
			return nil, err
		}
		d.lock.fileID = id
		d.lock.add(k)
	}
	d.lock.raw = raw
	return secretkey.New(raw)
}

// setLocalKey records the secrets key of a new or joined manager once
// its file exists.
func (d *Dev) setLocalKey() error {
	if d.lock.raw != nil {
		return nil
	}
	raw, err := os.ReadFile(d.secretKeyPath())
	if err != nil {
		return fmt.Errorf("read the secret key: %w", err)
	}
	d.lock.raw = raw
	return nil
}

// startAutolock turns autolock on for the cluster this start made
// (DevConfig.Autolock and created), and follows the cluster's setting
// from then on (followAutolock, until run ends).
func (d *Dev) startAutolock(ctx, run context.Context, autolock, created bool) error {
	on := d.mgr.Store().Read().Autolock().On
	if autolock && created && !on {
		if err := d.bootstrapAutolock(ctx); err != nil {
			return err
		}
	} else if autolock && !on {
		d.log.Warn("--autolock is set when a cluster is created; this cluster's autolock is off: turn it on with `shoal swarm update --autolock=true`")
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.followAutolock(run)
	}()
	return nil
}

// bootstrapAutolock turns autolock on with a new key the CLI prints
// (MadeUnlockKey).
func (d *Dev) bootstrapAutolock(ctx context.Context) error {
	k, err := unlockkey.Generate()
	if err != nil {
		return err
	}
	d.lock.add(k)
	if err := d.tokensToRaft(ctx); err != nil {
		return err
	}
	if err := d.mgr.SetAutolock(ctx, state.AutolockSetting{On: true, KeyID: k.ID()}); err != nil {
		return err
	}
	d.lock.made = k
	return d.applyAutolock(ctx)
}

// MadeUnlockKey is the unlock key this start's bootstrap made (with
// DevConfig.Autolock), "" otherwise.
func (d *Dev) MadeUnlockKey() string {
	if d.lock.made == nil {
		return ""
	}
	return d.lock.made.String()
}

// applyAutolock brings secret.key to the cluster's setting: locked by
// the current unlock key (fetched from another manager when this one
// does not hold it), or plain.
func (d *Dev) applyAutolock(ctx context.Context) error {
	d.lock.apply.Lock()
	defer d.lock.apply.Unlock()
	want := d.mgr.Store().Read().Autolock()
	if want.On {
		if err := d.scrubTokens(); err != nil {
			return err
		}
	}
	d.lock.mu.Lock()
	fileID, raw := d.lock.fileID, d.lock.raw
	d.lock.mu.Unlock()
	if want.KeyID == fileID {
		return nil
	}
	file := raw
	if want.On {
		var err error
		k := d.lock.key(want.KeyID)
		if k == nil {
			if k, err = d.fetchUnlockKey(ctx, want.KeyID); err != nil {
				return err
			}
		}
		if file, err = unlockkey.Lock(k, raw); err != nil {
			return err
		}
		d.lock.add(k)
	}
	if err := writePrivate(d.secretKeyPath(), file); err != nil {
		return err
	}
	d.lock.mu.Lock()
	d.lock.fileID = want.KeyID
	// Only the current key is kept: peers ask for no other.
	for id := range d.lock.keys {
		if id != want.KeyID {
			delete(d.lock.keys, id)
		}
	}
	d.lock.mu.Unlock()
	if want.On {
		d.log.Info("autolock: the secret key is locked by the cluster's unlock key", "key_id", want.KeyID)
	} else {
		d.log.Info("autolock off: the secret key is stored unencrypted in the data folder")
	}
	return nil
}

// followAutolock applies the cluster's setting after every commit, and
// retries a failed change (a key no reachable manager holds yet).
func (d *Dev) followAutolock(ctx context.Context) {
	wait := 100 * time.Millisecond
	for {
		idx := d.mgr.Store().Index()
		if err := d.applyAutolock(ctx); err != nil {
			d.log.Warn("autolock: cannot follow the cluster's setting; retrying", "err", err, "retry_in", wait)
			if !sleep(ctx, wait) {
				return
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		if d.mgr.Store().WaitIndex(ctx, idx+1) != nil {
			return
		}
	}
}

// unlockKeyAnswer carries an unlock key between managers.
type unlockKeyAnswer struct {
	Key []byte `json:"Key"`
}

// fetchUnlockKey gets the unlock key id from another manager.
func (d *Dev) fetchUnlockKey(ctx context.Context, id string) (*unlockkey.Key, error) {
	members, err := d.mgr.Raft().Members()
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: d.peerTransport(), Timeout: 10 * time.Second}
	errs := []error{fmt.Errorf("no other manager holds the unlock key %s (a manager that made it stopped before handing it on?): `shoal swarm unlock-key --rotate` makes a new one", id)}
	for _, m := range members {
		if m.ID == d.nodeID || m.Addr == string(cluster.LocalAddress) {
			continue
		}
		var out unlockKeyAnswer
		err := getJSON(ctx, c, "https://"+m.Addr+pathUnlockKey+"?id="+url.QueryEscape(id), &out)
		var k *unlockkey.Key
		if err == nil {
			if k, err = unlockkey.FromBytes(out.Key); err == nil && k.ID() != id {
				err = errors.New("it answered another key")
			}
		}
		if err == nil {
			return k, nil
		}
		errs = append(errs, fmt.Errorf("manager %s: %w", m.Addr, err))
	}
	return nil, errors.Join(errs...)
}

// serveUnlockKey gives a manager of the cluster the current unlock key,
// if this manager holds it; no other key.
func (d *Dev) serveUnlockKey(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	want := d.mgr.Store().Read().Autolock()
	if !want.On || id != want.KeyID {
		httpjson.WriteError(w, http.StatusNotFound, "not the cluster's current unlock key")
		return
	}
	k := d.lock.key(id)
	if k == nil {
		httpjson.WriteError(w, http.StatusNotFound, "this manager does not hold the current unlock key yet")
		return
	}
	httpjson.Write(w, http.StatusOK, unlockKeyAnswer{Key: k.Bytes()})
}

// unlockKey answers GET /v1/swarm/unlockkey: the current key, "" when
// autolock is off.
func (d *Dev) unlockKey() (string, error) {
	want := d.mgr.Store().Read().Autolock()
	if !want.On {
		return "", nil
	}
	k := d.lock.key(want.KeyID)
	if k == nil {
		return "", errors.New("this manager has not received the cluster's current unlock key yet: try again in a moment, or on another manager")
	}
	return k.String(), nil
}

// setAutolock turns autolock on or off (`swarm update --autolock`), on
// the leader; on, it returns the unlock key. rotate makes a new key
// (`swarm unlock-key --rotate`), which needs autolock on.
func (d *Dev) setAutolock(ctx context.Context, on, rotate bool) (string, error) {
	d.lock.change.Lock()
	defer d.lock.change.Unlock()
	// Decided on the store: only a leader that has applied its term's
	// barrier may read it for a write (the write gate).
	if err := d.mgr.Writable(ctx); err != nil {
		return "", err
	}
	cur := d.mgr.Store().Read().Autolock()
	if rotate && !cur.On {
		return "", fmt.Errorf("%w: cannot rotate because autolock is not turned on", manager.ErrInvalid)
	}
	if on == cur.On && !rotate {
		if !on {
			return "", nil
		}
		return d.unlockKey()
	}
	next := state.AutolockSetting{}
	var k *unlockkey.Key
	if on {
		var err error
		if k, err = unlockkey.Generate(); err != nil {
			return "", err
		}
		d.lock.add(k)
		next = state.AutolockSetting{On: true, KeyID: k.ID()}
		if err := d.tokensToRaft(ctx); err != nil {
			return "", err
		}
	}
	if err := d.mgr.SetAutolock(ctx, next); err != nil {
		return "", err
	}
	d.log.Info("autolock changed", "on", on, "rotated", rotate)
	// This manager's file follows before the answer; the others follow
	// as they apply the change.
	if err := d.applyAutolock(ctx); err != nil {
		return "", err
	}
	if k == nil {
		return "", nil
	}
	return k.String(), nil
}

// getJSON gets url and decodes a 2xx answer into out.
func getJSON(ctx context.Context, c *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	_, b, err := send(c, req)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// sleep waits d, or until ctx ends: it says whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
