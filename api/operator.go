package api

import "time"

// OperatorCertRequest asks a manager for an operator (client) certificate
// of the cluster CA, for POST /v1/swarm/ca/operator: the key stays with
// the caller, which sends a certificate signing request for it.
type OperatorCertRequest struct {
	// Name is the operator the certificate names (its CN).
	Name string `json:"Name"`
	// CSR is a PEM certificate request for an ECDSA P-256 key.
	CSR string `json:"CSR"`
	// Expiry is the certificate's life; zero means the cluster's node
	// certificate life.
	Expiry time.Duration `json:"Expiry,omitempty"`
}

// OperatorCert is the answer: the certificate, and the roots to trust
// (the cluster CA; during a CA rotation, the new root and the old).
type OperatorCert struct {
	Cert string `json:"Cert"`
	CA   string `json:"CA"`
}
