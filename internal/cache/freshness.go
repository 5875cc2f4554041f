package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// heuristicStatus are the status codes cacheable by default (RFC 9110
// 15.1): they may get heuristic freshness.
var heuristicStatus = map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true,
	308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// maxVaryNames bounds the request fields one response may vary on; a
// response varying on more is not stored.
const maxVaryNames = 16

// maxHeuristic caps heuristic freshness (10% of the time since
// Last-Modified, RFC 9111 4.2.2).
const maxHeuristic = 24 * time.Hour

// responseDirectives returns the directives that govern this cache: the
// levee-targeted field, else CDN-Cache-Control, else Cache-Control
// (RFC 9213). targeted reports that a targeted field was used, which
// also makes Expires irrelevant. A targeted field that is empty or not a
// valid Structured Fields Dictionary is ignored, as if absent.
func responseDirectives(h http.Header) (d directives, targeted bool) {
	for _, name := range targetedFields {
		if v := h[name]; len(v) > 0 {
			if d, ok := parseTargeted(v); ok {
				return d, true
			}
		}
	}
	return parseDirectives(h["Cache-Control"]), false
}

// targetedFields are the targeted cache-control fields this cache obeys,
// most specific first (RFC 9213 2.2).
var targetedFields = []string{"Levee-Cache-Control", "Cdn-Cache-Control"}

// analysis is what the store decision needs from one response.
type analysis struct {
	obj    *Object
	reason string // why it is not storable; "" when it is
}

// analyze decides whether a response to a GET may be stored and builds the
// object's freshness fields (RFC 9111 3 and 4.2). The body is not set.
func analyze(status int, h http.Header, rd *directives, hasAuth bool, ru *Rules, reqTime, respTime time.Time) analysis {
	d, targeted := responseDirectives(h)
	understood := heuristicStatus[status] || status == 302 || status == 307
	switch {
	case rd.noStore:
		return analysis{reason: "request-no-store"}
	case d.mustUnderstand && !understood:
		return analysis{reason: "must-understand"}
	case d.noStore && !d.mustUnderstand:
		// must-understand lets a cache that understands the status code
		// ignore no-store (RFC 9111 5.2.2.3).
		return analysis{reason: "no-store"}
	case d.private:
		return analysis{reason: "private"}
	case status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified:
		return analysis{reason: "status"}
	case hasAuth && !(d.public || d.sMaxAge >= 0 || d.mustRevalidate):
		return analysis{reason: "authorization"}
	case len(h["Set-Cookie"]) > 0 && !ru.StoreSetCookie:
		return analysis{reason: "set-cookie"}
	case hasVaryStar(h["Vary"]):
		return analysis{reason: "vary-star"}
	case len(h["Vary"]) > 0 && len(varyNames(h["Vary"])) > maxVaryNames:
		return analysis{reason: "vary-too-many"}
	}
	o := &Object{Status: status, SWR: -1, SIE: -1, RespTime: respTime.UnixNano(), Grace: int64(ru.Grace)}
	date := respTime
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		date = t
	}
	o.InitAge = initialAge(h, date, reqTime, respTime)
	fresh, explicit := lifetime(status, h, &d, targeted, ru, date)
	o.Fresh = int64(fresh)
	if d.swr >= 0 {
		o.SWR = d.swr * int64(time.Second)
	}
	if d.sie >= 0 {
		o.SIE = d.sie * int64(time.Second)
	}
	o.NoStale = d.mustRevalidate || d.proxyRevalidate || d.sMaxAge >= 0
	o.NoCache = d.noCache
	o.AuthOK = d.public || d.sMaxAge >= 0 || d.mustRevalidate
	o.ETag = h.Get("Etag")
	o.LastMod = h.Get("Last-Modified")
	if !explicit && !heuristicStatus[status] && !d.public {
		return analysis{reason: "status"}
	}
	if o.Fresh <= 0 && o.ETag == "" && o.LastMod == "" {
		return analysis{reason: "no-freshness"}
	}
	o.Header = storedHeader(h, d.privateFields, ru.StoreSetCookie)
	return analysis{obj: o}
}

// lifetime returns the freshness lifetime and whether it was explicit
// (RFC 9111 4.2.1), or from an operator override or default.
func lifetime(status int, h http.Header, d *directives, targeted bool, ru *Rules, date time.Time) (time.Duration, bool) {
	if ttl, ok := ru.TTL[status]; ok {
		return ttl, true
	}
	switch {
	case d.sMaxAge >= 0:
		return time.Duration(d.sMaxAge) * time.Second, true
	case d.maxAge >= 0:
		return time.Duration(d.maxAge) * time.Second, true
	}
	if exp := h["Expires"]; len(exp) > 0 && !targeted {
		// An invalid Expires means already expired (RFC 9111 5.3); so do
		// several field lines, which RFC 9111 4.2 lets a cache treat as
		// stale rather than guess which one the origin meant.
		t, ok := parseHTTPDate(exp[0], date)
		if !ok || len(exp) > 1 {
			return 0, true
		}
		return t.Sub(date), true
	}
	if ru.DefaultTTL > 0 {
		return ru.DefaultTTL, true
	}
	if !heuristicStatus[status] && !d.public {
		return 0, false
	}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil && lm.Before(date) {
		return min(date.Sub(lm)/10, maxHeuristic), false
	}
	return 0, false
}

// initialAge is the corrected initial age of RFC 9111 4.2.3.
func initialAge(h http.Header, date, reqTime, respTime time.Time) int64 {
	apparent := max(respTime.Sub(date), 0)
	ageValue := time.Duration(originAge(h["Age"])) * time.Second
	corrected := ageValue + respTime.Sub(reqTime)
	return int64(max(apparent, corrected))
}

// originAge is the origin's Age in seconds: the first member when the
// field is a list ("7200, 0" is 7200, RFC 9111 5.1: a cache uses the
// first value); an invalid first member is ignored (0), never read as
// a later one.
func originAge(values []string) int64 {
	if len(values) == 0 {
		return 0
	}
	v := values[0]
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0
		}
	}
	return parseDelta(v)
}

func hasVaryStar(values []string) bool {
	return httpguts.HeaderValuesContainsToken(values, "*")
}

// notStored are response fields never kept in the cache: hop-by-hop ones,
// those computed per answer, and the one targeted at levee itself.
var notStored = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade", "Age", "Cache-Status", "Levee-Cache-Control", "X-Request-Id"}

// storedHeader copies the response header for storage.
func storedHeader(h http.Header, private []string, stripCookie bool) http.Header {
	out := make(http.Header, len(h))
	for k, vv := range h {
		// len == cap: a later Add on a served copy never writes into the
		// shared backing array.
		c := make([]string, len(vv))
		copy(c, vv)
		out[k] = c
	}
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			delete(out, http.CanonicalHeaderKey(strings.TrimSpace(f)))
		}
	}
	for _, k := range notStored {
		delete(out, k)
	}
	for _, k := range private {
		delete(out, k)
	}
	if stripCookie {
		delete(out, "Set-Cookie")
	}
	if len(out["Date"]) == 0 {
		out["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	return out
}

// setLength records the body length in the stored header (none for the
// statuses that never have a body, RFC 9110 8.6).
func (o *Object) setLength(n int64) {
	o.Size = n
	if !bodyAllowed(o.Status) {
		delete(o.Header, "Content-Length")
		return
	}
	o.Header["Content-Length"] = []string{strconv.FormatInt(n, 10)}
}
