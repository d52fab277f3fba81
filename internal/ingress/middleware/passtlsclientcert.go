package middleware

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// passtlsclientcert: pem (the client's certificates, PEM without the
// delimiters and line breaks, URL-escaped, comma-separated, in
// X-Forwarded-Tls-Client-Cert) and info.* (their fields, in
// X-Forwarded-Tls-Client-Cert-Info: Subject="C=…,CN=…";Issuer="…";
// SerialNumber="…";NB="unix";NA="unix";SAN="…", URL-escaped, one per
// certificate, comma-separated), as Traefik's. Without a client
// certificate (plain HTTP, or a client that sent none: the websecure
// entry point asks for one only with --ingress-tls-client-ca) both
// headers are removed, so a client never sets them.
type passTLSClientCert struct {
	pem                bool
	info               bool
	subject, issuer    []dnField
	serial, nb, na, sn bool
}

const (
	headerClientCert     = "X-Forwarded-Tls-Client-Cert"
	headerClientCertInfo = "X-Forwarded-Tls-Client-Cert-Info"
)

// dnField is one field of a distinguished name, in Traefik's order.
type dnField struct {
	option, short string
	values        func(n *x509.Certificate, issuer bool) []string
}

func nameOf(c *x509.Certificate, issuer bool) (n struct {
	C, ST, L, O, OU []string
	CN, SN          string
}) {
	name := c.Subject
	if issuer {
		name = c.Issuer
	}
	n.C, n.ST, n.L, n.O, n.OU = name.Country, name.Province, name.Locality, name.Organization, name.OrganizationalUnit
	n.CN, n.SN = name.CommonName, name.SerialNumber
	return n
}

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

var dnFields = []dnField{
	{"country", "C", func(c *x509.Certificate, i bool) []string { return nameOf(c, i).C }},
	{"province", "ST", func(c *x509.Certificate, i bool) []string { return nameOf(c, i).ST }},
	{"locality", "L", func(c *x509.Certificate, i bool) []string { return nameOf(c, i).L }},
	{"organization", "O", func(c *x509.Certificate, i bool) []string { return nameOf(c, i).O }},
	{"organizationalUnit", "OU", func(c *x509.Certificate, i bool) []string { return nameOf(c, i).OU }},
	{"commonName", "CN", func(c *x509.Certificate, i bool) []string { return one(nameOf(c, i).CN) }},
	{"serialNumber", "SN", func(c *x509.Certificate, i bool) []string { return one(nameOf(c, i).SN) }},
}

func newPassTLSClientCert(o *options) Middleware {
	p := &passTLSClientCert{pem: o.boolean("pem")}
	for _, f := range dnFields {
		if o.boolean("info.subject." + f.option) {
			p.subject = append(p.subject, f)
		}
		if o.boolean("info.issuer." + f.option) {
			p.issuer = append(p.issuer, f)
		}
	}
	p.serial, p.nb, p.na, p.sn = o.boolean("info.serialNumber"), o.boolean("info.notBefore"), o.boolean("info.notAfter"), o.boolean("info.sans")
	p.info = len(p.subject) > 0 || len(p.issuer) > 0 || p.serial || p.nb || p.na || p.sn
	if !p.pem && !p.info {
		o.fail("", "set pem=true or an info option: the middleware would pass nothing")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del(headerClientCert)
			r.Header.Del(headerClientCertInfo)
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				p.set(r.Header, r.TLS.PeerCertificates)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (p *passTLSClientCert) set(h http.Header, certs []*x509.Certificate) {
	if p.pem {
		parts := make([]string, len(certs))
		for i, c := range certs {
			parts[i] = url.QueryEscape(base64.StdEncoding.EncodeToString(c.Raw))
		}
		h.Set(headerClientCert, strings.Join(parts, ","))
	}
	if p.info {
		parts := make([]string, len(certs))
		for i, c := range certs {
			parts[i] = url.QueryEscape(p.infoOf(c))
		}
		h.Set(headerClientCertInfo, strings.Join(parts, ","))
	}
}

func (p *passTLSClientCert) infoOf(c *x509.Certificate) string {
	var kv []string
	dn := func(fields []dnField, issuer bool) string {
		var out []string
		for _, f := range fields {
			for _, v := range f.values(c, issuer) {
				out = append(out, f.short+"="+v)
			}
		}
		return strings.Join(out, ",")
	}
	if len(p.subject) > 0 {
		kv = append(kv, `Subject="`+dn(p.subject, false)+`"`)
	}
	if len(p.issuer) > 0 {
		kv = append(kv, `Issuer="`+dn(p.issuer, true)+`"`)
	}
	if p.serial && c.SerialNumber != nil {
		kv = append(kv, `SerialNumber="`+c.SerialNumber.String()+`"`)
	}
	if p.nb {
		kv = append(kv, `NB="`+strconv.FormatInt(c.NotBefore.Unix(), 10)+`"`)
	}
	if p.na {
		kv = append(kv, `NA="`+strconv.FormatInt(c.NotAfter.Unix(), 10)+`"`)
	}
	if p.sn {
		var sans []string
		sans = append(sans, c.DNSNames...)
		sans = append(sans, c.EmailAddresses...)
		for _, ip := range c.IPAddresses {
			sans = append(sans, ip.String())
		}
		for _, u := range c.URIs {
			sans = append(sans, u.String())
		}
		kv = append(kv, `SAN="`+strings.Join(sans, ",")+`"`)
	}
	return strings.Join(kv, ";")
}
