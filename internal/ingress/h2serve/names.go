package h2serve

import (
	"net/http"
	"strings"
)

// commonNames maps the common header names between their lower case
// (HTTP/2's) and canonical (net/http's) forms, so that neither is
// allocated per request.
var (
	toCanonical = map[string]string{}
	toLower     = map[string]string{}
)

func init() {
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Origin", "Age", "Authorization", "Cache-Control", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Type", "Cookie", "Date", "Etag", "Expect", "Expires", "From", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Last-Modified",
		"Link", "Location", "Max-Forwards", "Origin", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
		"Range", "Referer", "Refresh", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Te", "Trailer", "User-Agent", "Vary", "Via", "Www-Authenticate", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-Server", "X-Real-Ip",
		"X-Request-Id", "Grpc-Status", "Grpc-Message", "Grpc-Encoding", "Grpc-Accept-Encoding",
		"Grpc-Timeout", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User",
		"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Upgrade-Insecure-Requests",
	} {
		l := strings.ToLower(k)
		toCanonical[l] = k
		toLower[k] = l
	}
}

// canonical is a request header name (lower case on the wire) as
// net/http keys it.
func canonical(lk string) string {
	if k, ok := toCanonical[lk]; ok {
		return k
	}
	return http.CanonicalHeaderKey(lk)
}

// lower is a response header name as HTTP/2 sends it.
func lower(k string) string {
	if l, ok := toLower[k]; ok {
		return l
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}
