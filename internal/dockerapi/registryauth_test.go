package dockerapi

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"
)

func TestRegistryAuthWarns(t *testing.T) {
	enc := func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, header string
		warn         bool
	}{
		{"no header", "", false},
		{"empty object, as the CLI sends without credentials", enc("{}"), false},
		{"empty fields", enc(`{"username":"","serveraddress":"docker.io"}`), false},
		{"user and password", enc(`{"username":"u","password":"p"}`), true},
		{"identity token", enc(`{"identitytoken":"t"}`), true},
		{"unpadded", base64.RawURLEncoding.EncodeToString([]byte(`{"auth":"dTpw"}`)), true},
		{"not base64", "%%%", true},
		{"not JSON", enc("user:pass"), true},
	} {
		r := httptest.NewRequest("POST", "/services/create", nil)
		if tc.header != "" {
			r.Header.Set("X-Registry-Auth", tc.header)
		}
		got := registryAuthWarnings(r)
		if (len(got) == 1) != tc.warn || (!tc.warn && got == nil) {
			t.Errorf("%s: warnings %q, want a warning: %v (and never nil: docker prints the list)", tc.name, got, tc.warn)
		}
	}
}
