package cli

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/clicontext"
)

// connFlags are docker's TLS flags and --context.
type connFlags struct {
	tlsVerify              bool
	tlsCA, tlsCert, tlsKey string
	context                string
}

func (f *connFlags) add(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.BoolVar(&f.tlsVerify, "tlsverify", false, "use mutual TLS with the operator certificate below (env SHOAL_TLS_VERIFY); a tcp:// host needs it")
	fs.StringVar(&f.tlsCA, "tlscacert", "", "trust the manager certificates this CA signed (default $SHOAL_CERT_PATH/ca.pem)")
	fs.StringVar(&f.tlsCert, "tlscert", "", "operator certificate (default $SHOAL_CERT_PATH/cert.pem)")
	fs.StringVar(&f.tlsKey, "tlskey", "", "operator certificate's key (default $SHOAL_CERT_PATH/key.pem)")
	fs.StringVar(&f.context, "context", "", "context to talk to (env SHOAL_CONTEXT; `shoal context use` sets the default); -H and SHOAL_HOST win over it")
}

// store is the user's context store.
func (a *app) store() (clicontext.Store, error) {
	dir, err := clicontext.DefaultDir()
	return clicontext.Store{Dir: dir}, err
}

// endpoint is where the CLI talks (clicontext.Resolve's order).
func (a *app) endpoint() (clicontext.Endpoint, error) {
	files, err := a.tlsFiles()
	if err != nil {
		return clicontext.Endpoint{}, err
	}
	in := clicontext.Inputs{Host: a.host, EnvHost: os.Getenv("SHOAL_HOST"), Context: a.conn.context,
		EnvContext: os.Getenv("SHOAL_CONTEXT"), DefaultHost: localHost(), TLS: files}
	if in.Host == "" && in.EnvHost == "" && in.Context == "" && in.EnvContext == "" {
		// No store needed (nor a config folder) unless a context is used.
		if dir, err := clicontext.DefaultDir(); err != nil || !exists(dir) {
			return clicontext.Endpoint{Host: in.DefaultHost, Context: clicontext.Default}, nil
		}
	}
	st, err := a.store()
	if err != nil {
		return clicontext.Endpoint{}, err
	}
	return st.Resolve(in)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tlsFiles are the certificate files -H or SHOAL_HOST use: nil when TLS
// was not asked for (--tlsverify, SHOAL_TLS_VERIFY set non-empty, as
// docker reads DOCKER_TLS_VERIFY, or a --tls* file flag). Each file
// defaults to SHOAL_CERT_PATH's (else the config folder's) ca.pem,
// cert.pem, key.pem.
func (a *app) tlsFiles() (*client.TLSFiles, error) {
	f := &a.conn
	fs := a.root.PersistentFlags()
	if fs.Changed("tlsverify") && !f.tlsVerify {
		return nil, errors.New("--tlsverify=false: shoal speaks to a tcp:// host only with mutual TLS, never plain HTTP")
	}
	asked := f.tlsVerify || os.Getenv("SHOAL_TLS_VERIFY") != "" || f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != ""
	if !asked {
		return nil, nil
	}
	dir := os.Getenv("SHOAL_CERT_PATH")
	if dir == "" {
		var err error
		if dir, err = clicontext.DefaultDir(); err != nil {
			return nil, err
		}
	}
	files := client.TLSFilesIn(dir)
	for _, o := range []struct {
		flag string
		dst  *string
	}{{f.tlsCA, &files.CA}, {f.tlsCert, &files.Cert}, {f.tlsKey, &files.Key}} {
		if o.flag != "" {
			*o.dst = o.flag
		}
	}
	return files, nil
}
