package dockerapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// maxFilterValues bounds the values of a request's filters.
const maxFilterValues = 1000

// filters are a request's `filters` query: key → values, any of which
// may match.
type filters map[string][]string

// parseFilters reads the `filters` query parameter in either of Docker's
// encodings ({"name":{"web":true}}, or the old {"name":["web"]}),
// refusing keys not in allowed with Docker's wording.
func parseFilters(r *http.Request, allowed ...string) (filters, error) {
	raw := r.URL.Query().Get("filters")
	f := filters{}
	if raw == "" {
		return f, nil
	}
	var byMap map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &byMap); err == nil {
		for k, vs := range byMap {
			for v, on := range vs {
				if on {
					f[k] = append(f[k], v)
				}
			}
			sort.Strings(f[k])
		}
	} else {
		var byList map[string][]string
		if err := json.Unmarshal([]byte(raw), &byList); err != nil {
			return nil, badf("invalid filter: %q is not a JSON object of filters", raw)
		}
		f = byList
	}
	n := 0
	for k, vs := range f {
		n += len(vs)
		if !contains(allowed, k) {
			return nil, badf("Invalid filter '%s'", k)
		}
	}
	if n > maxFilterValues {
		return nil, badf("invalid filter: more than %d values", maxFilterValues)
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// match reports whether v equals one of key's values (or key is unset).
func (f filters) match(key, v string) bool {
	vs, ok := f[key]
	return !ok || contains(vs, v)
}

// matchPrefix reports whether one of key's values is a prefix of v, as
// Docker's id and name filters match.
func (f filters) matchPrefix(key, v string) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, p := range vs {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// matchLabels reports whether labels hold every `label` filter: "k"
// (present) or "k=v" (equal).
func (f filters) matchLabels(labels map[string]string) bool {
	for _, want := range f["label"] {
		k, v, hasValue := strings.Cut(want, "=")
		got, ok := labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}
