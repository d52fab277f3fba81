package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
)

// Bounds of the wait between two failed renewals: a tenth of what is
// left of the certificate's life, within these.
const (
	renewRetryMin = 500 * time.Millisecond
	renewRetryMax = time.Minute
)

// renewCert keeps the node's certificate valid while the agent runs: at
// a point drawn per certificate between half and two thirds of its life
// (ca.RenewAt), it asks a manager over the link for a new one (new key,
// same node, the role the cluster records), keeps it in dir (0600, as
// the first) and has the link present it from the next request on. A
// failed renewal is tried again until the certificate expires and after
// (an expired certificate is refused, and so is the renewal: the agent
// then stops, as it does for any refusal). It returns when ctx ends or
// the node was removed or refused.
//
// A manager whose answers say it trusts other roots than the node (a CA
// rotation: agentlink.Client.TrustChanged) has it renew at once, which
// brings the node a certificate of the new root and the managers' roots.
func renewCert(ctx context.Context, dir string, id *ca.NodeIdentity, link *agentlink.Client, log *slog.Logger) {
	for {
		if !sleepUntilOr(ctx, ca.RenewAt(id.Cert.Leaf, rand.Float64()), link.TrustChanged()) {
			return
		}
		for {
			next, certPEM, keyPEM, err := link.Renew(ctx, id)
			if err == nil {
				err = ca.ReplaceNodeIdentity(dir, certPEM, keyPEM, next.Root.BundlePEM())
			}
			if err == nil {
				link.SetIdentity(next)
				id = next
				log.Info("node certificate renewed", "expires", next.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
				break
			}
			if ctx.Err() != nil || errors.Is(err, agent.ErrRemoved) || errors.Is(err, agent.ErrRejected) {
				if ctx.Err() == nil {
					log.Error("node certificate not renewed", "err", err)
				}
				return
			}
			log.Warn("node certificate not renewed: trying again", "err", err, "expires", id.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			wait := min(max(time.Until(id.Cert.Leaf.NotAfter)/10, renewRetryMin), renewRetryMax)
			if !sleepUntil(ctx, time.Now().Add(wait)) {
				return
			}
		}
	}
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return sleepUntilOr(ctx, t, nil)
}

// sleepUntilOr waits until t or a receive on wake; false when ctx ended
// first.
func sleepUntilOr(ctx context.Context, t time.Time, wake <-chan struct{}) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}
