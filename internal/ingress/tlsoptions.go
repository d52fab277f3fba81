package ingress

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// TLS options, Traefik's: named sets of TLS settings defined in the
// file provider's dynamic configuration (tls.options.NAME), which
// routers refer to by name (traefik.http.routers.R.tls.options=NAME or
// NAME@file); labels cannot define them. In shoal the file is the
// ingress nodes' --ingress-tls-options, read at start and again when
// it changes (tlsreload.go). The options a
// handshake gets are those of the routers whose Host rules or
// tls.domains name its SNI (tlsselect.go).

// DefaultTLSOption is the name of the options a handshake gets when no
// router names others for its server name. The file's entry of that
// name replaces Traefik's defaults (TLS 1.2 and up, Go's suites).
const DefaultTLSOption = "default"

// TLSOption is one compiled entry of tls.options.
type TLSOption struct {
	Name                   string
	MinVersion, MaxVersion uint16
	CipherSuites           []uint16
	CurvePreferences       []tls.CurveID
	// SNIStrict refuses handshakes without a server name, or whose name
	// no certificate holds, instead of answering with the default one.
	SNIStrict bool
	// ALPNProtocols are offered in this order (default h2, http/1.1).
	ALPNProtocols []string
	ClientAuth    tls.ClientAuthType
	ClientCAs     *x509.CertPool
}

// TLSOptionSet is the parsed --ingress-tls-options file: the options by
// name, default among them.
type TLSOptionSet struct {
	byName map[string]*TLSOption
	// caFiles are the clientAuth.caFiles the entries name, as written:
	// a reload watches them too.
	caFiles []string
	// Warnings are settings accepted that weaken TLS (TLS 1.0 and 1.1,
	// insecure cipher suites) or have no effect, to be logged.
	Warnings []string
}

// DefaultTLSOptions is the set without a file: default only, TLS 1.2
// and up with Go's defaults.
func DefaultTLSOptions() *TLSOptionSet {
	return &TLSOptionSet{byName: map[string]*TLSOption{DefaultTLSOption: defaultTLSOption()}}
}

func defaultTLSOption() *TLSOption {
	return &TLSOption{Name: DefaultTLSOption, MinVersion: tls.VersionTLS12}
}

// Lookup returns the options a router's tls.options names (NAME,
// NAME@file; default@internal for default), or nil. A nil set has
// default only.
func (s *TLSOptionSet) Lookup(name string) *TLSOption {
	if s == nil {
		if TLSOptionName(name) == DefaultTLSOption {
			return defaultTLSOption()
		}
		return nil
	}
	return s.byName[TLSOptionName(name)]
}

// Names are the options' names, sorted.
func (s *TLSOptionSet) Names() []string {
	if s == nil {
		return []string{DefaultTLSOption}
	}
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TLSOptionName is the name a router's tls.options value refers to:
// without its @file provider, and default for default@internal.
func TLSOptionName(v string) string {
	name, provider, _ := strings.Cut(v, "@")
	if strings.EqualFold(name, DefaultTLSOption) && (provider == "" || strings.EqualFold(provider, "internal") || strings.EqualFold(provider, "file")) {
		return DefaultTLSOption
	}
	return name
}

// The file's layout: Traefik's dynamic configuration, tls.options only.
type tlsOptionsFile struct {
	TLS *struct {
		Options map[string]*tlsOptionYAML `yaml:"options"`
	} `yaml:"tls"`
}

type tlsOptionYAML struct {
	MinVersion       string   `yaml:"minVersion"`
	MaxVersion       string   `yaml:"maxVersion"`
	CipherSuites     []string `yaml:"cipherSuites"`
	CurvePreferences []string `yaml:"curvePreferences"`
	SNIStrict        bool     `yaml:"sniStrict"`
	ALPNProtocols    []string `yaml:"alpnProtocols"`
	ClientAuth       *struct {
		CAFiles        []string `yaml:"caFiles"`
		ClientAuthType string   `yaml:"clientAuthType"`
	} `yaml:"clientAuth"`
	// Traefik's deprecated and session settings: accepted, no effect.
	PreferServerCipherSuites *bool `yaml:"preferServerCipherSuites"`
	DisableSessionTickets    *bool `yaml:"disableSessionTickets"`
}

// maxTLSOptionsFile bounds the file read.
const maxTLSOptionsFile = 1 << 20

// ParseTLSOptions reads an --ingress-tls-options file (YAML, Traefik's
// dynamic configuration with tls.options only) and compiles every
// entry; readFile reads the clientAuth caFiles. An error names the
// field (tls.options.NAME.FIELD). Without a default entry, default is
// Traefik's: TLS 1.2 and up with Go's defaults.
func ParseTLSOptions(data []byte, readFile func(string) ([]byte, error)) (*TLSOptionSet, error) {
	if len(data) > maxTLSOptionsFile {
		return nil, fmt.Errorf("TLS options: the file is over %d bytes", maxTLSOptionsFile)
	}
	var f tlsOptionsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("TLS options: %w (want tls: options: NAME: minVersion, maxVersion, cipherSuites, curvePreferences, sniStrict, alpnProtocols, clientAuth: caFiles, clientAuthType)", err)
	}
	set := &TLSOptionSet{byName: map[string]*TLSOption{}}
	if f.TLS != nil {
		names := make([]string, 0, len(f.TLS.Options))
		for n := range f.TLS.Options {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "@ \t,") {
				return nil, fmt.Errorf("TLS options: tls.options.%q: invalid name (no @, spaces or commas)", n)
			}
			if _, dup := set.byName[TLSOptionName(n)]; dup {
				return nil, fmt.Errorf("TLS options: tls.options.%s: defined twice", n)
			}
			o, err := compileTLSOption(n, f.TLS.Options[n], readFile, &set.Warnings)
			if err != nil {
				return nil, fmt.Errorf("TLS options: tls.options.%s.%w", n, err)
			}
			set.byName[o.Name] = o
			if ca := f.TLS.Options[n]; ca != nil && ca.ClientAuth != nil {
				set.caFiles = append(set.caFiles, ca.ClientAuth.CAFiles...)
			}
		}
	}
	if set.byName[DefaultTLSOption] == nil {
		set.byName[DefaultTLSOption] = defaultTLSOption()
	}
	return set, nil
}

// tlsVersions are Traefik's version names.
var tlsVersions = map[string]uint16{
	"VersionTLS10": tls.VersionTLS10, "VersionTLS11": tls.VersionTLS11,
	"VersionTLS12": tls.VersionTLS12, "VersionTLS13": tls.VersionTLS13,
}

// tlsCurves are Traefik's curve names (Go's, and the IANA ones).
var tlsCurves = map[string]tls.CurveID{
	"CurveP256": tls.CurveP256, "CurveP384": tls.CurveP384, "CurveP521": tls.CurveP521, "X25519": tls.X25519,
	"secp256r1": tls.CurveP256, "secp384r1": tls.CurveP384, "secp521r1": tls.CurveP521, "x25519": tls.X25519,
	"X25519MLKEM768": tls.X25519MLKEM768,
}

var tlsClientAuth = map[string]tls.ClientAuthType{
	"NoClientCert": tls.NoClientCert, "RequestClientCert": tls.RequestClientCert,
	"RequireAnyClientCert": tls.RequireAnyClientCert, "VerifyClientCertIfGiven": tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

// compileTLSOption checks and compiles one entry; its errors start
// with the field's name (the caller prefixes tls.options.NAME.).
func compileTLSOption(name string, y *tlsOptionYAML, readFile func(string) ([]byte, error), warn *[]string) (*TLSOption, error) {
	o := &TLSOption{Name: TLSOptionName(name), MinVersion: tls.VersionTLS12}
	if y == nil {
		return o, nil
	}
	if y.MinVersion != "" {
		v, ok := tlsVersions[y.MinVersion]
		if !ok {
			return nil, fmt.Errorf("minVersion: unknown version %q (want VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13)", y.MinVersion)
		}
		if v < tls.VersionTLS12 {
			*warn = append(*warn, fmt.Sprintf("tls.options.%s.minVersion %s: TLS 1.0 and 1.1 are deprecated (RFC 8996); allowed, as Traefik allows them", name, y.MinVersion))
		}
		o.MinVersion = v
	}
	if y.MaxVersion != "" {
		v, ok := tlsVersions[y.MaxVersion]
		if !ok {
			return nil, fmt.Errorf("maxVersion: unknown version %q (want VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13)", y.MaxVersion)
		}
		if v < o.MinVersion {
			return nil, fmt.Errorf("maxVersion: %s is below minVersion", y.MaxVersion)
		}
		o.MaxVersion = v
	}
	if len(y.CipherSuites) > 0 {
		tls13 := 0
		for _, n := range y.CipherSuites {
			id, insecure, is13, ok := cipherSuiteByName(n)
			switch {
			case !ok:
				return nil, fmt.Errorf("cipherSuites: unknown cipher suite %q (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", n)
			case is13:
				tls13++ // Go does not let TLS 1.3's be chosen
				continue
			case insecure:
				*warn = append(*warn, fmt.Sprintf("tls.options.%s.cipherSuites: %s is insecure; allowed, as Traefik allows it", name, n))
			}
			if !slices.Contains(o.CipherSuites, id) {
				o.CipherSuites = append(o.CipherSuites, id)
			}
		}
		if tls13 > 0 {
			*warn = append(*warn, fmt.Sprintf("tls.options.%s.cipherSuites: TLS 1.3's suites are not configurable (as in Traefik): ignored", name))
		}
		if len(o.CipherSuites) == 0 && o.MaxVersion != 0 && o.MaxVersion < tls.VersionTLS13 {
			return nil, fmt.Errorf("cipherSuites: only TLS 1.3 suites, with maxVersion below TLS 1.3")
		}
	}
	for _, n := range y.CurvePreferences {
		id, ok := tlsCurves[n]
		if !ok {
			return nil, fmt.Errorf("curvePreferences: unknown curve %q (want CurveP256, CurveP384, CurveP521, X25519 or X25519MLKEM768)", n)
		}
		if !slices.Contains(o.CurvePreferences, id) {
			o.CurvePreferences = append(o.CurvePreferences, id)
		}
	}
	o.SNIStrict = y.SNIStrict
	for _, p := range y.ALPNProtocols {
		if p == "" || len(p) > 255 {
			return nil, fmt.Errorf("alpnProtocols: invalid protocol %q", p)
		}
		o.ALPNProtocols = append(o.ALPNProtocols, p)
	}
	if y.PreferServerCipherSuites != nil || y.DisableSessionTickets != nil {
		*warn = append(*warn, fmt.Sprintf("tls.options.%s: preferServerCipherSuites and disableSessionTickets have no effect (Go chooses the suite; session tickets stay on)", name))
	}
	if ca := y.ClientAuth; ca != nil {
		if err := o.clientAuth(ca.CAFiles, ca.ClientAuthType, readFile); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// clientAuth sets the client certificate policy as Traefik's
// buildTLSConfig: caFiles alone require and verify a certificate.
func (o *TLSOption) clientAuth(caFiles []string, authType string, readFile func(string) ([]byte, error)) error {
	if len(caFiles) > 0 {
		if readFile == nil {
			return errors.New("clientAuth.caFiles: no file can be read here")
		}
		pool := x509.NewCertPool()
		for _, f := range caFiles {
			data, err := readFile(f)
			if err != nil {
				return fmt.Errorf("clientAuth.caFiles: %w", err)
			}
			if !pool.AppendCertsFromPEM(data) {
				return fmt.Errorf("clientAuth.caFiles: no PEM certificate in %s", f)
			}
		}
		o.ClientCAs, o.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	if authType == "" {
		return nil
	}
	t, ok := tlsClientAuth[authType]
	if !ok {
		return fmt.Errorf("clientAuth.clientAuthType: unknown type %q (want NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)", authType)
	}
	if o.ClientCAs == nil && (t == tls.VerifyClientCertIfGiven || t == tls.RequireAndVerifyClientCert) {
		return fmt.Errorf("clientAuth.clientAuthType: %s needs clientAuth.caFiles", authType)
	}
	o.ClientAuth = t
	return nil
}

// cipherSuiteByName finds a suite among Go's, secure and insecure.
func cipherSuiteByName(name string) (id uint16, insecure, tls13, ok bool) {
	for _, s := range tls.CipherSuites() {
		if s.Name == name {
			return s.ID, false, len(s.SupportedVersions) == 1 && s.SupportedVersions[0] == tls.VersionTLS13, true
		}
	}
	for _, s := range tls.InsecureCipherSuites() {
		if s.Name == name {
			return s.ID, true, false, true
		}
	}
	return 0, false, false, false
}

// apply sets o on cfg, a clone of the entry point's configuration.
func (o *TLSOption) apply(cfg *tls.Config) {
	cfg.MinVersion, cfg.MaxVersion = o.MinVersion, o.MaxVersion
	cfg.CipherSuites = o.CipherSuites
	cfg.CurvePreferences = o.CurvePreferences
	if len(o.ALPNProtocols) > 0 {
		cfg.NextProtos = o.ALPNProtocols
	}
	cfg.ClientAuth, cfg.ClientCAs = o.ClientAuth, o.ClientCAs
}

// WithDefaultClientCAs is s with default options that ask clients for
// a certificate and verify one given against pool
// (--ingress-tls-client-ca, Traefik's VerifyClientCertIfGiven); an
// error when the file's default entry sets clientAuth itself.
func (s *TLSOptionSet) WithDefaultClientCAs(pool *x509.CertPool) (*TLSOptionSet, error) {
	d := s.byName[DefaultTLSOption]
	if d.ClientCAs != nil || d.ClientAuth != tls.NoClientCert {
		return nil, errors.New("the TLS options file's default entry sets clientAuth: give the client CAs there (clientAuth.caFiles) or with --ingress-tls-client-ca, not both")
	}
	out := &TLSOptionSet{byName: maps.Clone(s.byName), caFiles: s.caFiles, Warnings: s.Warnings}
	c := *d
	c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	out.byName[DefaultTLSOption] = &c
	return out, nil
}

// equal reports whether o and p configure handshakes alike.
func (o *TLSOption) equal(p *TLSOption) bool {
	if o.Name != p.Name || o.MinVersion != p.MinVersion || o.MaxVersion != p.MaxVersion || o.SNIStrict != p.SNIStrict ||
		o.ClientAuth != p.ClientAuth || !slices.Equal(o.CipherSuites, p.CipherSuites) ||
		!slices.Equal(o.CurvePreferences, p.CurvePreferences) || !slices.Equal(o.ALPNProtocols, p.ALPNProtocols) {
		return false
	}
	if o.ClientCAs == nil || p.ClientCAs == nil {
		return o.ClientCAs == p.ClientCAs
	}
	return o.ClientCAs.Equal(p.ClientCAs)
}
