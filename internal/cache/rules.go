package cache

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Rules are one route's compiled cache rules. They belong to a config
// generation; the Store they point to does not.
type Rules struct {
	IgnoreHost     bool
	Query          string // keep, sort, ignore
	DropParams     map[string]bool
	KeyHeaders     []string // canonical names
	KeyCookies     []string
	DefaultTTL     time.Duration
	TTL            map[int]time.Duration
	Grace          time.Duration
	MaxObject      int64
	StoreSetCookie bool
	BypassHeaders  []string
	BypassCookies  []string
	BypassParams   []string
	// Slice is the slice size in bytes; 0: whole objects.
	Slice int64

	site *siteMetrics
}

// Compile turns a route's cache: block into Rules; nodeMax is the node's
// cache.max_object_size. The config was validated already.
func Compile(rc *RouteConfig, nodeMax int64) *Rules {
	ru := &Rules{IgnoreHost: rc.Key.IgnoreHost, Query: rc.Key.Query, DefaultTTL: rc.DefaultTTL.D(),
		Grace: rc.GraceOrDefault(), MaxObject: nodeMax, StoreSetCookie: rc.StoreSetCookie,
		KeyCookies: rc.Key.Cookies, BypassCookies: rc.Bypass.Cookies, BypassParams: rc.Bypass.Params}
	if ru.Query == "" {
		ru.Query = "keep"
	}
	if rc.MaxObjectSize > 0 && int64(rc.MaxObjectSize) < nodeMax {
		ru.MaxObject = int64(rc.MaxObjectSize)
	}
	if rc.Slice > 0 {
		// A slice must fit what the route may store.
		ru.Slice = min(int64(rc.Slice), ru.MaxObject)
	}
	for _, p := range rc.Key.DropParams {
		if ru.DropParams == nil {
			ru.DropParams = map[string]bool{}
		}
		ru.DropParams[p] = true
	}
	for _, h := range rc.Key.Headers {
		ru.KeyHeaders = append(ru.KeyHeaders, textproto.CanonicalMIMEHeaderKey(h))
	}
	for _, h := range rc.Bypass.Headers {
		ru.BypassHeaders = append(ru.BypassHeaders, textproto.CanonicalMIMEHeaderKey(h))
	}
	for k, v := range rc.TTL {
		if n, err := strconv.Atoi(k); err == nil {
			if ru.TTL == nil {
				ru.TTL = map[int]time.Duration{}
			}
			ru.TTL[n] = v.D()
		}
	}
	return ru
}

// bypass reports whether r matches a bypass condition.
func (ru *Rules) bypass(r *http.Request) bool {
	for _, h := range ru.BypassHeaders {
		if len(r.Header[h]) > 0 {
			return true
		}
	}
	for _, c := range ru.BypassCookies {
		if _, err := r.Cookie(c); err == nil {
			return true
		}
	}
	if len(ru.BypassParams) > 0 && r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, p := range ru.BypassParams {
			if q.Has(p) {
				return true
			}
		}
	}
	return false
}

// rawPathQuery splits the request target into its raw path and query.
func rawPathQuery(r *http.Request) (string, string) {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, ""
}
