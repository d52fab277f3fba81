package cli

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
)

// issueFlags are `swarm ca --issue-client NAME --out DIR [--expiry D]`.
type issueFlags struct {
	name, out string
	expiry    time.Duration
}

func (f *issueFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "issue-client", "", "issue an operator (client) certificate named NAME, for remote use over TCP (needs --out)")
	cmd.Flags().StringVar(&f.out, "out", "", "folder to write the operator certificate to: ca.pem, cert.pem, key.pem (made 0700; existing files are not replaced)")
	cmd.Flags().DurationVar(&f.expiry, "expiry", 0, "life of the operator certificate (default: the cluster's node certificate life)")
}

// run makes a key here, has the manager sign it, and writes the folder.
// Nothing is written unless everything is there.
func (f *issueFlags) run(cmd *cobra.Command, a *app) error {
	switch {
	case f.name == "":
		return usagef(cmd, "--out needs --issue-client NAME")
	case f.out == "":
		return usagef(cmd, "--issue-client needs --out DIR: the folder to write ca.pem, cert.pem and key.pem to")
	}
	if err := ca.CheckOperatorName(f.name); err != nil {
		return usagef(cmd, "%v", err)
	}
	if f.expiry != 0 {
		if err := ca.CheckExpiry(f.expiry); err != nil {
			return usagef(cmd, "invalid --expiry: %v", err)
		}
	}
	for _, name := range []string{client.CAFile, client.CertFile, client.KeyFile} {
		if _, err := os.Lstat(filepath.Join(f.out, name)); err == nil {
			return fmt.Errorf("%s exists: choose another --out folder or remove it (an operator certificate is never overwritten)", filepath.Join(f.out, name))
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	out, err := c.IssueOperatorCert(cmd.Context(), api.OperatorCertRequest{Name: f.name, CSR: string(csrPEM), Expiry: f.expiry})
	if err != nil {
		return err
	}
	b, _ := pem.Decode([]byte(out.Cert))
	if b == nil {
		return errors.New("the manager answered no certificate")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("the manager answered a bad certificate: %w", err)
	}
	if err := os.MkdirAll(f.out, 0o700); err != nil {
		return err
	}
	// The key first: a certificate without its key is of no use.
	for _, w := range []struct {
		name string
		data []byte
	}{{client.KeyFile, keyPEM}, {client.CertFile, []byte(out.Cert)}, {client.CAFile, []byte(out.CA)}} {
		if err := ca.WriteFile0600(filepath.Join(f.out, w.name), w.data); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "Operator certificate %q written to %s (ca.pem, cert.pem, key.pem), valid until %s.\n",
		f.name, f.out, leaf.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(a.stdout, "Use it with a manager's --api or --docker-api tcp:// listener:\n"+
		"    shoal context create NAME --host tcp://MANAGER:PORT --cert-path %[1]s\n"+
		"    SHOAL_CERT_PATH=%[1]s SHOAL_TLS_VERIFY=1 shoal -H tcp://MANAGER:PORT service ls\n"+
		"    DOCKER_CERT_PATH=%[1]s DOCKER_TLS_VERIFY=1 docker -H tcp://MANAGER:PORT service ls\n", f.out)
	return nil
}
