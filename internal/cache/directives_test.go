package cache

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	none := directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	with := func(f func(d *directives)) directives { d := none; f(&d); return d }
	cases := []struct {
		in   []string
		want directives
	}{
		{nil, none},
		{[]string{""}, none},
		{[]string{"max-age=60"}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{"MAX-AGE=60"}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{`max-age="60"`}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{"max-age=60, max-age=10"}, with(func(d *directives) { d.maxAge = 60 })}, // first wins
		{[]string{"max-age=abc"}, with(func(d *directives) { d.maxAge = 0 })},             // invalid = stale
		{[]string{"max-age=-5"}, with(func(d *directives) { d.maxAge = 0 })},
		{[]string{"max-age=99999999999999"}, with(func(d *directives) { d.maxAge = maxDelta })},
		{[]string{"public", "s-maxage=5"}, with(func(d *directives) { d.public = true; d.sMaxAge = 5 })},
		{[]string{" no-store ,no-cache,, private"}, with(func(d *directives) { d.noStore, d.noCache, d.private = true, true, true })},
		{[]string{`no-cache="Set-Cookie"`}, with(func(d *directives) { d.noCache = true })},
		{[]string{`private="X-A, x-b", max-age=1`}, with(func(d *directives) { d.privateFields = []string{"X-A", "X-B"}; d.maxAge = 1 })},
		{[]string{"must-revalidate, proxy-revalidate"}, with(func(d *directives) { d.mustRevalidate, d.proxyRevalidate = true, true })},
		{[]string{"stale-while-revalidate=30, stale-if-error=60"}, with(func(d *directives) { d.swr, d.sie = 30, 60 })},
		{[]string{"max-stale"}, with(func(d *directives) { d.maxStaleAny = true })},
		{[]string{"max-stale=5, min-fresh=3, only-if-cached"}, with(func(d *directives) { d.maxStale, d.minFresh, d.onlyIfCached = 5, 3, true })},
		{[]string{`ext="a,b", max-age=7`}, with(func(d *directives) { d.maxAge = 7 })}, // comma inside quotes
		{[]string{"must-understand, no-store"}, with(func(d *directives) { d.mustUnderstand, d.noStore = true, true })},
	}
	for _, c := range cases {
		if got := parseDirectives(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		in       string
		size     int64
		start, n int64
		ok       bool
	}{
		{"bytes=0-4", 10, 0, 5, true},
		{"bytes=5-", 10, 5, 5, true},
		{"bytes=-3", 10, 7, 3, true},
		{"bytes=-30", 10, 0, 10, true},
		{"bytes=8-20", 10, 8, 2, true},
		{"bytes=10-", 10, 0, -1, true},
		{"bytes=-0", 10, 0, -1, true},
		{"bytes=4-2", 10, 0, 0, false},
		{"bytes=0-1,3-4", 10, 0, 0, false},
		{"items=0-1", 10, 0, 0, false},
		{"bytes=x-1", 10, 0, 0, false},
	}
	for _, c := range cases {
		s, n, ok := parseRange(c.in, c.size)
		if ok != c.ok || (ok && (s != c.start || n != c.n)) {
			t.Errorf("%q/%d: got %d,%d,%v want %d,%d,%v", c.in, c.size, s, n, ok, c.start, c.n, c.ok)
		}
	}
}

func TestLifetimeAndAge(t *testing.T) {
	ru := &Rules{Grace: time.Hour}
	now := time.Now()
	date := now.Add(-10 * time.Second).UTC().Format(http.TimeFormat)
	h := http.Header{"Date": {date}, "Age": {"20"}, "Cache-Control": {"max-age=100"}}
	rd := directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	a := analyze(200, h, &rd, false, ru, now.Add(-time.Second), now)
	if a.obj == nil {
		t.Fatal(a.reason)
	}
	// corrected initial age = max(apparent 10s, 20s + 1s delay) = 21s
	if got := time.Duration(a.obj.InitAge); got != 21*time.Second {
		t.Fatalf("initial age %v", got)
	}
	if left := time.Duration(a.obj.freshFor(now.UnixNano())); left != 79*time.Second {
		t.Fatalf("freshness left %v", left)
	}
}

// FuzzDirectives checks the Cache-Control parser never panics and that
// deltas stay within [0, 2^31] or absent.
func FuzzDirectives(f *testing.F) {
	for _, s := range []string{"max-age=60", `private="a,b", no-cache`, `x="\"`, "s-maxage=1, stale-if-error=99999999999",
		",,,=,", `max-age="`, "max-stale, min-fresh=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseDirectives([]string{s})
		for _, v := range []int64{d.maxAge, d.sMaxAge, d.maxStale, d.minFresh, d.swr, d.sie} {
			if v < -1 || v > maxDelta {
				t.Fatalf("%q: delta %d out of range", s, v)
			}
		}
		if len(d.privateFields) > 32 {
			t.Fatalf("%q: %d private fields", s, len(d.privateFields))
		}
		parseRange(s, 1000)
	})
}

// A stored 204 or 304-class object carries no Content-Length (RFC 9110 8.6).
func TestSetLengthNoBodyStatus(t *testing.T) {
	for _, c := range []struct {
		status int
		want   string
	}{{204, ""}, {200, "0"}, {404, "0"}} {
		o := &Object{Status: c.status, Header: http.Header{"Content-Length": {"5"}}}
		o.setLength(0)
		if got := o.Header.Get("Content-Length"); got != c.want {
			t.Errorf("%d: Content-Length %q, want %q", c.status, got, c.want)
		}
	}
}
