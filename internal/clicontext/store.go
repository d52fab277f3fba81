// Package clicontext keeps the CLI's contexts, as `docker context` does:
// named endpoints (a host and, for tcp://, an operator certificate) under
// the user's config folder, one of them current, and the order in which
// the CLI picks the endpoint it talks to.
//
// Layout, under DIR (SHOAL_CONFIG, else os.UserConfigDir()/shoal):
//
//	config.json                  {"currentContext": "NAME"}
//	contexts/NAME/meta.json      {"Name", "Description", "Host"}
//	contexts/NAME/tls/ca.pem     the certificate folder given at create,
//	contexts/NAME/tls/cert.pem   copied (a context keeps working when
//	contexts/NAME/tls/key.pem    the original moves)
//
// Folders are 0700 and files 0600: a context holds a private key.
package clicontext

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/client"
)

// Default is the context that is always there: the local manager's
// socket (or SHOAL_HOST). It cannot be created or removed.
const Default = "default"

// ErrNotFound is wrapped by the error for a context that does not exist.
var ErrNotFound = errors.New("context not found")

// nameRE is docker's rule for context names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,63}$`)

// CheckName returns an error unless name may name a context.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid context name %.70q: names are 1 to 64 characters, letters, digits and _.+-, starting with a letter or digit", name)
	}
	return nil
}

// Context is a named endpoint.
type Context struct {
	Name        string `json:"Name"`
	Description string `json:"Description,omitempty"`
	// Host is unix:///path or tcp://HOST:PORT.
	Host string `json:"Host"`
	// TLS is set when the context holds an operator certificate (not
	// stored: the tls folder's presence says it).
	TLS bool `json:"-"`
}

// Store is the contexts under a folder.
type Store struct{ Dir string }

// DefaultDir is SHOAL_CONFIG, or os.UserConfigDir()/shoal.
func DefaultDir() (string, error) {
	if d := os.Getenv("SHOAL_CONFIG"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config folder for contexts (set SHOAL_CONFIG): %w", err)
	}
	return filepath.Join(d, "shoal"), nil
}

func (s Store) dir(name string) string { return filepath.Join(s.Dir, "contexts", name) }

// TLSFiles are the certificate files of context name.
func (s Store) TLSFiles(name string) *client.TLSFiles {
	return client.TLSFilesIn(filepath.Join(s.dir(name), "tls"))
}

// Create stores c; certDir, when not empty, is a folder holding ca.pem,
// cert.pem and key.pem to copy in. A tcp:// host needs one. Nothing is
// left behind when it fails.
func (s Store) Create(c Context, certDir string) (err error) {
	if err := CheckName(c.Name); err != nil {
		return err
	}
	if c.Name == Default {
		return fmt.Errorf("context %q is the built-in one: choose another name", Default)
	}
	// The host and the certificate are checked as the client will use
	// them: a context that cannot connect is not stored.
	if certDir == "" {
		if _, err := client.New(c.Host); err != nil {
			return fmt.Errorf("context %s: %w", c.Name, err)
		}
	} else {
		if !strings.HasPrefix(c.Host, "tcp://") {
			return fmt.Errorf("context %s: --cert-path goes with a tcp:// host, not %q", c.Name, c.Host)
		}
		if _, err := client.NewTLS(c.Host, client.TLSFilesIn(certDir)); err != nil {
			return fmt.Errorf("context %s: %w", c.Name, err)
		}
	}
	dir := s.dir(c.Name)
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("context %q already exists", c.Name)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("create context: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create context: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if certDir != "" {
		if err := os.Mkdir(filepath.Join(dir, "tls"), 0o700); err != nil {
			return fmt.Errorf("create context: %w", err)
		}
		for _, f := range []string{client.CAFile, client.CertFile, client.KeyFile} {
			b, err := os.ReadFile(filepath.Join(certDir, f))
			if err != nil {
				return fmt.Errorf("create context: %w (--cert-path holds %s, %s and %s)", err, client.CAFile, client.CertFile, client.KeyFile)
			}
			if err := writeFile(filepath.Join(dir, "tls", f), b); err != nil {
				return err
			}
		}
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return writeFile(filepath.Join(dir, "meta.json"), b)
}

// writeFile writes data to path, mode 0600, never through a link.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

// Get returns context name; ErrNotFound (wrapped) when there is none.
func (s Store) Get(name string) (Context, error) {
	if err := CheckName(name); err != nil {
		return Context{}, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir(name), "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Context{}, fmt.Errorf("context %q: %w (`shoal context ls` lists them)", name, ErrNotFound)
	}
	if err != nil {
		return Context{}, fmt.Errorf("read context %q: %w", name, err)
	}
	var c Context
	if err := json.Unmarshal(b, &c); err != nil || c.Name != name {
		return Context{}, fmt.Errorf("context %q is damaged (%s): remove it with `shoal context rm %s`", name, s.dir(name), name)
	}
	if _, err := os.Stat(filepath.Join(s.dir(name), "tls")); err == nil {
		c.TLS = true
	}
	return c, nil
}

// List returns the stored contexts by name; one that cannot be read is
// returned with its error.
func (s Store) List() ([]Context, map[string]error, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "contexts"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("list contexts: %w", err)
	}
	var out []Context
	bad := map[string]error{}
	for _, e := range ents {
		if !e.IsDir() || CheckName(e.Name()) != nil {
			continue
		}
		c, err := s.Get(e.Name())
		if err != nil {
			c = Context{Name: e.Name()}
			bad[e.Name()] = err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, bad, nil
}

// Remove deletes context name; removing the current one makes default
// current.
func (s Store) Remove(name string) error {
	if name == Default {
		return fmt.Errorf("context %q cannot be removed", Default)
	}
	// The name first: Get's other errors (a damaged context) let the
	// removal go on, and a name such as ".." must never reach RemoveAll.
	if err := CheckName(name); err != nil {
		return err
	}
	if _, err := s.Get(name); err != nil && errors.Is(err, ErrNotFound) {
		return err
	}
	if err := os.RemoveAll(s.dir(name)); err != nil {
		return fmt.Errorf("remove context %q: %w", name, err)
	}
	if cur, _ := s.Current(); cur == name {
		return s.Use(Default)
	}
	return nil
}

type config struct {
	CurrentContext string `json:"currentContext,omitempty"`
}

// Current is the context `shoal context use` chose; Default when none.
func (s Store) Current() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Default, nil
	}
	if err != nil {
		return Default, fmt.Errorf("read %s: %w", filepath.Join(s.Dir, "config.json"), err)
	}
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		return Default, fmt.Errorf("read %s: %w", filepath.Join(s.Dir, "config.json"), err)
	}
	if c.CurrentContext == "" {
		return Default, nil
	}
	return c.CurrentContext, nil
}

// Use makes name the current context.
func (s Store) Use(name string) error {
	if name != Default {
		if _, err := s.Get(name); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("use context: %w", err)
	}
	c := config{CurrentContext: name}
	if name == Default {
		c.CurrentContext = ""
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	path := filepath.Join(s.Dir, "config.json")
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeFile(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("use context: %w", err)
	}
	return nil
}
