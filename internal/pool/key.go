package pool

import (
	"net/http"
	"net/textproto"
	"strings"
)

// KeyFunc extracts a hashing key from a request without allocating; ""
// means the request has no key.
type KeyFunc func(r *http.Request) string

// NewKeyFunc returns the key function for a hash_on kind (path, uri,
// client_ip, header, cookie, query) and name.
func NewKeyFunc(kind, name string) KeyFunc {
	switch kind {
	case "uri":
		return func(r *http.Request) string {
			if r.RequestURI != "" {
				return r.RequestURI
			}
			return r.URL.Path
		}
	case "client_ip":
		return func(r *http.Request) string { return hostOf(r.RemoteAddr) }
	case "header":
		canon := textproto.CanonicalMIMEHeaderKey(name)
		return func(r *http.Request) string {
			if v := r.Header[canon]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
	case "cookie":
		return func(r *http.Request) string { return CookieValue(r.Header, name) }
	case "query":
		return func(r *http.Request) string { return queryValue(r.URL.RawQuery, name) }
	}
	return func(r *http.Request) string { return r.URL.Path }
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}

// CookieValue finds a cookie in the request headers without parsing them
// all (http.Request.Cookie allocates every cookie).
func CookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if k, v, ok := strings.Cut(part, "="); ok && k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// queryValue finds a raw (still escaped) query parameter.
func queryValue(q, name string) string {
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if k, v, ok := strings.Cut(part, "="); ok && k == name {
			return v
		}
	}
	return ""
}
