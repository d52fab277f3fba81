package ingress

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// healthLabel reads a loadbalancer.healthcheck.* option (lb, Traefik's
// names) into hc's check; it reports false for any other option.
func (p *labelParser) healthLabel(key, lb, value string, hc func() *HealthCheck) bool {
	opt, ok := strings.CutPrefix(lb, "healthcheck.")
	if !ok {
		return false
	}
	if name, ok := strings.CutPrefix(opt, "headers."); ok {
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			p.fail(key, "%q: %q is not a valid header", name, value)
			return true
		}
		if http.CanonicalHeaderKey(name) == "Host" {
			p.fail(key, "set the Host of checks with healthcheck.hostname")
			return true
		}
		hc().Headers = append(hc().Headers, HealthHeader{Name: http.CanonicalHeaderKey(name), Value: value})
		return true
	}
	switch opt {
	case "path":
		if !strings.HasPrefix(value, "/") {
			p.fail(key, "health check path %q does not start with /", value)
			return true
		}
		hc().Path = value
	case "interval", "timeout", "unhealthyinterval":
		d, err := parseDuration(value)
		if err != nil || d <= 0 {
			p.fail(key, "%q is not a positive duration (like 10s or 10)", value)
			return true
		}
		switch opt {
		case "interval":
			hc().Interval = d
		case "timeout":
			hc().Timeout = d
		default:
			hc().UnhealthyInterval = d
		}
	case "scheme":
		if value != "http" && value != "https" && value != "h2c" {
			p.fail(key, "scheme %q is not http, https or h2c", value)
			return true
		}
		hc().Scheme = value
	case "port":
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil || n == 0 {
			p.fail(key, "port %q is not a number from 1 to 65535", value)
			return true
		}
		hc().Port = uint16(n)
	case "method":
		if !httpguts.ValidHeaderFieldName(value) || value == http.MethodConnect {
			p.fail(key, "method %q is not a method a check can send", value)
			return true
		}
		hc().Method = value
	case "status":
		n, err := strconv.Atoi(value)
		if err != nil || n < 100 || n > 599 {
			p.fail(key, "status %q is not a number from 100 to 599", value)
			return true
		}
		hc().Status = n
	case "hostname":
		if value == "" || strings.ContainsAny(value, "/\\ \t\r\n@?#") {
			p.fail(key, "hostname %q is not a host name", value)
			return true
		}
		hc().Hostname = value
	case "followredirects":
		b, err := strconv.ParseBool(value)
		if err != nil {
			p.fail(key, "%q is not true or false", value)
			return true
		}
		hc().FollowRedirects = b
	default:
		return false
	}
	return true
}

// sortHeaders orders a check's headers by name, so that two label sets
// that differ only in their order make the same check.
func sortHeaders(hs []HealthHeader) {
	slices.SortFunc(hs, func(a, b HealthHeader) int { return strings.Compare(a.Name, b.Name) })
}

// sameHealthCheck reports whether a and b (either nil) are the same check.
func sameHealthCheck(a, b *HealthCheck) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Path == b.Path && a.Interval == b.Interval && a.Timeout == b.Timeout && a.UnhealthyInterval == b.UnhealthyInterval &&
		a.Scheme == b.Scheme && a.Port == b.Port && a.Method == b.Method && a.Hostname == b.Hostname &&
		a.Status == b.Status && a.FollowRedirects == b.FollowRedirects && slices.Equal(a.Headers, b.Headers)
}
