package cache_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// step is one request of an RFC rule's scenario and what must come back.
type step struct {
	method  string
	path    string
	hdrs    []string
	status  int
	cs      string // substring of Cache-Status
	body    string // "" = not checked; "-" = must be empty
	hits    int64  // origin hits after this step; -1 = not checked
	hdrWant string // "Name: value" that must be in the response
	hdrNot  string // header name that must be absent
}

// rfcCase is one rule: an origin handler and the requests that show it.
type rfcCase struct {
	name   string
	route  string // route cache: block
	origin func(w http.ResponseWriter, r *http.Request, n int64)
	steps  []step
}

func cc(v string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", v)
		w.Write([]byte("body"))
	}
}

// expires answers with one Expires field line per value.
func expires(values ...string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header()["Expires"] = values
		w.Write([]byte("body"))
	}
}

var past = time.Now().Add(-240 * time.Hour).UTC().Format(http.TimeFormat)

func rfcCases() []rfcCase {
	// Taken when the cases are built, not when the test binary starts: on a
	// loaded machine the package's earlier tests can take longer than the
	// max-age the case below relies on.
	recent := time.Now().Add(-2 * time.Second).UTC().Format(http.TimeFormat)
	return []rfcCase{
		{name: "max-age makes a response fresh", origin: cc("max-age=60"), steps: []step{
			{path: "/x", status: 200, cs: "fwd=miss; stored", body: "body", hits: 1},
			{path: "/x", status: 200, cs: "hit", body: "body", hits: 1}}},
		{name: "s-maxage overrides max-age in a shared cache", origin: cc("max-age=0, s-maxage=60"), steps: []step{
			{path: "/x", status: 200, hits: 1}, {path: "/x", status: 200, cs: "hit", hits: 1}}},
		{name: "Expires gives freshness without max-age", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "max-age wins over a past Expires", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Expires", past)
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "an invalid Expires means stale", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Expires", "0")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "an Expires with a 1-digit hour is invalid, so stale (RFC 9111 5.3)", origin: expires("Fri, 06 Nov 2099 8:49:37 GMT"),
			steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "an Expires with a run of spaces is invalid, so stale", origin: expires("Fri,  06 Nov 2099 08:49:37 GMT"),
			steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "several Expires field lines are stale (RFC 9111 4.2)", origin: expires("Fri, 06 Nov 2099 08:49:37 GMT", "Fri, 06 Nov 2099 08:49:37 GMT"),
			steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "an rfc850-date Expires is accepted", origin: expires(time.Now().Add(time.Hour).UTC().Format("Monday, 02-Jan-06 15:04:05 GMT")),
			steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "an asctime-date Expires is accepted", origin: expires(time.Now().Add(time.Hour).UTC().Format(time.ANSIC)),
			steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "a list-based Age uses its first member (RFC 9111 5.1)", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header().Set("Age", "7200, 0")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "a second Age field line is discarded", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header()["Age"] = []string{"7200", "0"}
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "an invalid Age is ignored", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header().Set("Age", "-5")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "an If-Modified-Since that is not a valid HTTP-date is ignored (RFC 9110 13.1.3)", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Last-Modified", past)
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1},
			{path: "/x", hdrs: []string{"If-Modified-Since: Fri, 06 Nov 2099 8:49:37 GMT"}, status: 200, cs: "hit", body: "body", hits: 1},
			{path: "/x", hdrs: []string{"If-Modified-Since: Fri, 06 Nov 2099 08:49:37 GMT"}, status: 304, cs: "hit", body: "-", hits: 1}}},
		{name: "heuristic freshness from Last-Modified", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Last-Modified", past)
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "no heuristic freshness for a status not cacheable by default", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Last-Modified", past)
			w.WriteHeader(http.StatusAccepted)
		}, steps: []step{{path: "/x", status: 202, hits: 1}, {path: "/x", status: 202, hits: 2}}},
		{name: "no freshness and no validator: not stored", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", cs: "detail=no-freshness", hits: 1}, {path: "/x", hits: 2}}},
		{name: "no-store is not stored", origin: cc("no-store, max-age=60"), steps: []step{
			{path: "/x", cs: "detail=no-store", hits: 1}, {path: "/x", hits: 2}}},
		{name: "private is not stored by a shared cache", origin: cc("private, max-age=60"), steps: []step{
			{path: "/x", cs: "detail=private", hits: 1}, {path: "/x", hits: 2}}},
		{name: "qualified private strips the field and stores", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", `private="X-User", max-age=60`)
			w.Header().Set("X-User", "alice")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1, hdrNot: "X-User"}}},
		{name: "no-cache is stored but revalidated before each use", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "fwd=stale; fwd-status=304", body: "body", hits: 2}}},
		{name: "revalidation merges the 304's headers", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("X-Version", "2")
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("X-Version", "1")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1, hdrWant: "X-Version: 1"},
			{path: "/x", cs: "fwd-status=304", body: "body", hits: 2, hdrWant: "X-Version: 2"},
			{path: "/x", cs: "hit", body: "body", hits: 2, hdrWant: "X-Version: 2"}}},
		{name: "a 304 updates every stored field but Content-Length, Content-Encoding included (RFC 9111 3.2)", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Cache-Control", "max-age=0")
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.Header().Set("Content-Encoding", "x-new")
				w.Header().Set("Content-Length", "999")
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Content-Encoding", "x-old")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1, hdrWant: "Content-Encoding: x-old"},
			{path: "/x", cs: "fwd-status=304", body: "body", hits: 2, hdrWant: "Content-Encoding: x-new"},
			{path: "/x", cs: "fwd-status=304", body: "body", hits: 3, hdrWant: "Content-Length: 4"}}},
		{name: "revalidation with If-Modified-Since", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("Last-Modified", past)
			if r.Header.Get("If-Modified-Since") == past {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "fwd-status=304", body: "body", hits: 2}}},
		{name: "Authorization: not stored without public, s-maxage or must-revalidate", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hdrs: []string{"Authorization: Bearer a"}, cs: "detail=authorization", hits: 1},
			{path: "/x", hdrs: []string{"Authorization: Bearer a"}, hits: 2}}},
		{name: "Authorization: stored with public", origin: cc("public, max-age=60"), steps: []step{
			{path: "/x", hdrs: []string{"Authorization: Bearer a"}, hits: 1},
			{path: "/x", hdrs: []string{"Authorization: Bearer b"}, cs: "hit", hits: 1}}},
		{name: "Age accounts for the origin's Age", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("Age", "100")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1, hdrWant: "Age: 100"}}},
		{name: "Age past max-age makes it stale", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Age", "100")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "Date is kept", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Date", recent)
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1, hdrWant: "Date: " + recent}}},
		{name: "a Date far in the past makes the apparent age large", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Date", "Sun, 06 Nov 1994 08:49:37 GMT")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "Vary stores several variants, normalised", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "Accept-Encoding")
			w.Write([]byte("enc=" + r.Header.Get("Accept-Encoding")))
		}, steps: []step{
			{path: "/x", hdrs: []string{"Accept-Encoding: gzip, br"}, body: "enc=gzip, br", hits: 1},
			{path: "/x", hdrs: []string{"Accept-Encoding: identity"}, body: "enc=identity", hits: 2},
			{path: "/x", hdrs: []string{"Accept-Encoding: br,gzip"}, cs: "hit", body: "enc=gzip, br", hits: 2},
			{path: "/x", hdrs: []string{"Accept-Encoding: identity"}, cs: "hit", body: "enc=identity", hits: 2}}},
		{name: "Vary: * is not stored", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "*")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", cs: "vary-star", hits: 1}, {path: "/x", hits: 2}}},
		{name: "If-None-Match is answered 304 from the cache", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"abc"`)
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1},
			{path: "/x", hdrs: []string{`If-None-Match: "zzz", W/"abc"`}, status: 304, cs: "hit", body: "-", hits: 1, hdrWant: `Etag: "abc"`},
			{path: "/x", hdrs: []string{`If-None-Match: "zzz"`}, status: 200, cs: "hit", body: "body", hits: 1}}},
		{name: "If-Modified-Since is answered 304 from the cache", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Last-Modified", past)
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1},
			{path: "/x", hdrs: []string{"If-Modified-Since: " + time.Now().UTC().Format(http.TimeFormat)}, status: 304, body: "-", hits: 1}}},
		{name: "If-Match failing is 412 from the cache", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"abc"`)
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hdrs: []string{`If-Match: "other"`}, status: 412, hits: 1}}},
		{name: "Range is answered 206 from a full object", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("0123456789"))
		}, steps: []step{{path: "/x", hits: 1},
			{path: "/x", hdrs: []string{"Range: bytes=2-4"}, status: 206, body: "234", hits: 1, hdrWant: "Content-Range: bytes 2-4/10"},
			{path: "/x", hdrs: []string{"Range: bytes=-3"}, status: 206, body: "789", hits: 1},
			{path: "/x", hdrs: []string{"Range: bytes=8-"}, status: 206, body: "89", hits: 1}}},
		{name: "a Range on a miss is cut from the full response, which is stored", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			if r.Header.Get("Range") != "" {
				w.WriteHeader(500) // the cache must fetch the whole object
				return
			}
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("0123456789"))
		}, steps: []step{
			{path: "/x", hdrs: []string{"Range: bytes=2-4"}, status: 206, cs: "stored", body: "234", hits: 1, hdrWant: "Content-Range: bytes 2-4/10"},
			{path: "/x", cs: "hit", body: "0123456789", hits: 1}}},
		{name: "a Range on an uncacheable response is cut too", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "no-store")
			w.Write([]byte("0123456789"))
		}, steps: []step{
			{path: "/x", hdrs: []string{"Range: bytes=-2"}, status: 206, body: "89", hits: 1},
			{path: "/x", hdrs: []string{"Range: bytes=50-"}, status: 200, cs: "hit-for-miss", body: "0123456789", hits: 2}}},
		{name: "an unsatisfiable Range is 416", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("0123456789"))
		}, steps: []step{{path: "/x", hits: 1},
			{path: "/x", hdrs: []string{"Range: bytes=20-30"}, status: 416, hits: 1, hdrWant: "Content-Range: bytes */10"}}},
		{name: "If-Range with another validator gets the full object", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"v1"`)
			w.Write([]byte("0123456789"))
		}, steps: []step{{path: "/x", hits: 1},
			{path: "/x", hdrs: []string{"Range: bytes=2-4", `If-Range: "v0"`}, status: 200, body: "0123456789", hits: 1},
			{path: "/x", hdrs: []string{"Range: bytes=2-4", `If-Range: "v1"`}, status: 206, body: "234", hits: 1}}},
		{name: "HEAD is answered from a stored GET", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hits: 1}, {method: "HEAD", path: "/x", cs: "hit", body: "-", hits: 1, hdrWant: "Content-Length: 4"}}},
		{name: "a cold HEAD fills the object for GETs", origin: cc("max-age=60"), steps: []step{
			{method: "HEAD", path: "/x", body: "-", hits: 1}, {path: "/x", cs: "hit", body: "body", hits: 1}}},
		{name: "a successful POST invalidates the URL", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1},
			{method: "POST", path: "/x", cs: "fwd=method", hits: 2}, {path: "/x", cs: "fwd=miss", hits: 3}}},
		{name: "a DELETE invalidates the same-host Location and Content-Location", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			if r.Method == "DELETE" {
				w.Header().Set("Location", "/loc")
				w.Header().Set("Content-Location", "http://"+r.Host+"/cloc")
				w.WriteHeader(200)
				return
			}
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/loc", hits: 1}, {path: "/cloc", hits: 2}, {path: "/loc", cs: "hit", hits: 2},
			{method: "DELETE", path: "/other", hits: 3}, {path: "/loc", cs: "fwd=miss", hits: 4}, {path: "/cloc", cs: "fwd=miss", hits: 5}}},
		{name: "a failed POST invalidates nothing", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			if r.Method == "POST" {
				w.WriteHeader(500)
				return
			}
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {method: "POST", path: "/x", status: 500, hits: 2}, {path: "/x", cs: "hit", hits: 2}}},
		{name: "stale-while-revalidate answers stale at once and refreshes in the background", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
			w.Header().Set("Age", "5")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "stale-while-revalidate", body: "body", hits: -1}}},
		{name: "CDN-Cache-Control takes precedence over Cache-Control", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("CDN-Cache-Control", "max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1, hdrWant: "Cache-Control: no-store"}}},
		{name: "Levee-Cache-Control takes precedence over CDN-Cache-Control and is not forwarded", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("CDN-Cache-Control", "no-store")
			w.Header().Set("Levee-Cache-Control", "max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1, hdrNot: "Levee-Cache-Control"}, {path: "/x", cs: "hit", hits: 1, hdrNot: "Levee-Cache-Control"}}},
		{name: "Levee-Cache-Control is not forwarded when the response passes uncached", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Levee-Cache-Control", "no-store")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1, hdrNot: "Levee-Cache-Control"}, {path: "/x", hits: 2, body: "body", hdrNot: "Levee-Cache-Control"}}},
		{name: "a CDN-Cache-Control that is not an SF Dictionary is ignored; Cache-Control applies (RFC 9213 2.1)", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("CDN-Cache-Control", "max-age=60, Private")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", cs: "detail=no-store", hits: 1}, {path: "/x", hits: 2}}},
		{name: "a CDN-Cache-Control with a trailing comma is ignored", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("CDN-Cache-Control", "max-age=60,")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", cs: "detail=no-store", hits: 1}, {path: "/x", hits: 2}}},
		{name: "an invalid Levee-Cache-Control falls back to CDN-Cache-Control", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Levee-Cache-Control", `max-age="60`)
			w.Header().Set("CDN-Cache-Control", "max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1, hdrNot: "Levee-Cache-Control"}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "a repeated key in CDN-Cache-Control takes the last value, as a Dictionary does", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("CDN-Cache-Control", "max-age=0, max-age=60")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "a Decimal max-age in CDN-Cache-Control is not used", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("CDN-Cache-Control", "max-age=60.5")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", cs: "no-freshness", hits: 1}, {path: "/x", hits: 2}}},
		{name: "a targeted field makes Expires irrelevant", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.Header().Set("CDN-Cache-Control", "max-age=0")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hits: 2}}},
		{name: "Set-Cookie responses are not stored by default", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Set-Cookie", "id=1")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", cs: "set-cookie", hits: 1}, {path: "/x", hits: 2}}},
		{name: "store_set_cookie stores without the cookie", route: "{store_set_cookie: true}", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Set-Cookie", "id=1")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1, hdrWant: "Set-Cookie: id=1"}, {path: "/x", cs: "hit", hits: 1, hdrNot: "Set-Cookie"}}},
		{name: "request max-age=0 forces revalidation", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hits: 1}, {path: "/x", hdrs: []string{"Cache-Control: max-age=0"}, hits: 2}}},
		{name: "request max-stale accepts a stale object", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=1")
			w.Header().Set("Age", "30")
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", hdrs: []string{"Cache-Control: max-stale=600"}, cs: "stale", hits: 1}}},
		{name: "request min-fresh refuses an object about to expire", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hits: 1}, {path: "/x", hdrs: []string{"Cache-Control: min-fresh=120"}, hits: 2}}},
		{name: "request only-if-cached on a miss is 504", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hdrs: []string{"Cache-Control: only-if-cached"}, status: 504, cs: "only-if-cached", hits: 0},
			{path: "/x", hits: 1}, {path: "/x", hdrs: []string{"Cache-Control: only-if-cached"}, cs: "hit", hits: 1}}},
		{name: "request no-store is not stored", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hdrs: []string{"Cache-Control: no-store"}, hits: 1}, {path: "/x", hits: 2}}},
		{name: "a 204 with max-age is cached", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(204)
		}, steps: []step{{path: "/x", status: 204, hits: 1}, {path: "/x", status: 204, cs: "hit", hits: 1}}},
		{name: "a 404 with max-age is cached", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(404)
		}, steps: []step{{path: "/x", status: 404, hits: 1}, {path: "/x", status: 404, cs: "hit", hits: 1}}},
		{name: "operator: query sorted and parameters dropped", route: "{key: {query: sort, drop_params: [utm_source]}}", origin: cc("max-age=60"), steps: []step{
			{path: "/x?b=2&a=1&utm_source=x", hits: 1}, {path: "/x?a=1&b=2", cs: "hit", hits: 1}, {path: "/x?a=1", hits: 2}}},
		{name: "operator: query ignored", route: "{key: {query: ignore}}", origin: cc("max-age=60"), steps: []step{
			{path: "/x?a=1", hits: 1}, {path: "/x?b=2", cs: "hit", hits: 1}}},
		{name: "operator: a header in the key", route: "{key: {headers: [X-Tenant]}}", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hdrs: []string{"X-Tenant: a"}, hits: 1}, {path: "/x", hdrs: []string{"X-Tenant: b"}, hits: 2},
			{path: "/x", hdrs: []string{"X-Tenant: a"}, cs: "hit", hits: 2}}},
		{name: "operator: a cookie in the key", route: "{key: {cookies: [lang]}}", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hdrs: []string{"Cookie: lang=en"}, hits: 1}, {path: "/x", hdrs: []string{"Cookie: lang=fr"}, hits: 2},
			{path: "/x", hdrs: []string{"Cookie: lang=en; x=1"}, cs: "hit", hits: 2}}},
		{name: "operator: default TTL for responses without freshness", route: "{default_ttl: 60s}", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Write([]byte("body"))
		}, steps: []step{{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "operator: TTL override by status", route: `{ttl: {"200": 60s}}`, origin: cc("max-age=0"), steps: []step{
			{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "operator: bypass by cookie", route: "{bypass: {cookies: [session]}}", origin: cc("max-age=60"), steps: []step{
			{path: "/x", hits: 1}, {path: "/x", hdrs: []string{"Cookie: session=1"}, cs: "fwd=bypass", hits: 2}, {path: "/x", cs: "hit", hits: 2}}},
		{name: "operator: max object size", route: "{max_object_size: 3}", origin: cc("max-age=60"), steps: []step{
			{path: "/x", cs: "too-large", body: "body", hits: 1}, {path: "/x", cs: "hit-for-miss", body: "body", hits: 2}}},
		{name: "operator: cache off", route: "{enabled: false}", origin: cc("max-age=60"), steps: []step{
			{path: "/x", cs: "none", hits: 1}, {path: "/x", cs: "none", hits: 2}}},
		{name: "must-understand with an understood status ignores no-store", origin: cc("must-understand, no-store, max-age=60"), steps: []step{
			{path: "/x", hits: 1}, {path: "/x", cs: "hit", hits: 1}}},
		{name: "must-understand with an unknown status is not stored", origin: func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Cache-Control", "must-understand, no-store, max-age=60")
			w.WriteHeader(299)
		}, steps: []step{{path: "/x", status: 299, cs: "must-understand", hits: 1}, {path: "/x", status: 299, hits: 2}}},
	}
}

func TestRFCRules(t *testing.T) {
	for _, tc := range rfcCases() {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.origin(w, r, n.Add(1))
			}))
			nd := node(t, o.URL, tc.route, "")
			for i, s := range tc.steps {
				if s.method == "" {
					s.method = "GET"
				}
				if s.status == 0 {
					s.status = 200
				}
				res, body := get(t, s.method, nd.URL(s.path), s.hdrs...)
				cs := res.Header.Get("Cache-Status")
				if s.cs == "none" {
					if cs != "" {
						t.Fatalf("step %d: Cache-Status %q on an uncached route", i, cs)
					}
				} else if res.StatusCode != s.status || !strings.Contains(cs, s.cs) || cs == "" {
					t.Fatalf("step %d: status %d Cache-Status %q, want %d and %q", i, res.StatusCode, cs, s.status, s.cs)
				}
				if s.body == "-" && body != "" || s.body != "" && s.body != "-" && body != s.body {
					t.Fatalf("step %d: body %q, want %q", i, body, s.body)
				}
				if s.hits >= 0 && o.Hits() != s.hits {
					t.Fatalf("step %d: origin hits %d, want %d", i, o.Hits(), s.hits)
				}
				if s.hdrWant != "" {
					k, v, _ := strings.Cut(s.hdrWant, ": ")
					if got := res.Header.Get(k); got != v {
						t.Fatalf("step %d: %s = %q, want %q", i, k, got, v)
					}
				}
				if s.hdrNot != "" && res.Header.Get(s.hdrNot) != "" {
					t.Fatalf("step %d: %s present: %q", i, s.hdrNot, res.Header.Get(s.hdrNot))
				}
			}
		})
	}
}
