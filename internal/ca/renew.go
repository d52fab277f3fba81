package ca

import (
	"crypto/x509"
	"time"
)

// Renewal starts when between renewLow and renewHigh of a certificate's
// life has passed, at a point drawn per node, so that certificates issued
// together (a cluster bootstrapped at once, a CA rotation) are not all
// renewed at the same moment. swarmkit draws from 50–80 %; shoal stops at
// two thirds so a node that fails to reach a manager still has a third of
// its life to retry.
const (
	renewLow  = 1.0 / 2
	renewHigh = 2.0 / 3
)

// RenewAt is when the holder of leaf should ask for a new certificate.
// jitter, in [0, 1), picks the point between half and two thirds of the
// certificate's life; pass rand.Float64() (math/rand/v2).
func RenewAt(leaf *x509.Certificate, jitter float64) time.Time {
	if jitter < 0 {
		jitter = 0
	}
	if jitter >= 1 {
		jitter = 0.999
	}
	// The life counts from the issue, not from NotBefore, which Issue
	// sets clockSkew earlier.
	issued := leaf.NotBefore
	if issued.Add(clockSkew).Before(leaf.NotAfter) {
		issued = issued.Add(clockSkew)
	}
	life := leaf.NotAfter.Sub(issued)
	frac := renewLow + (renewHigh-renewLow)*jitter
	return issued.Add(time.Duration(float64(life) * frac))
}

// NeedsRenewal reports whether at now the holder of leaf should already
// have renewed it (see RenewAt).
func NeedsRenewal(leaf *x509.Certificate, now time.Time, jitter float64) bool {
	return !now.Before(RenewAt(leaf, jitter))
}
