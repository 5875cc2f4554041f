package cache

import (
	"net/http"
	"sort"
	"sync/atomic"
	"time"
)

// Object is one stored response (a variant, for responses with Vary), or a
// marker: a Vary marker says which request headers select the variant; a
// hit-for-miss marker says the URL's last response could not be stored.
// Everything but the atomics is read-only once the object is published, so
// the hit path shares its header slices without copying.
type Object struct {
	Key    string // the full variant key, checked against hash collisions
	URL    string // host + path + keyed query, for purges
	Tags   []string
	Status int
	// Header is the stored response header: no hop-by-hop fields, no Age,
	// no Cache-Status; Content-Length is set from the body. It is nil once
	// the object is packed for storage (pack): read it with header, get
	// and copyHeaderTo.
	Header http.Header
	fields []field // the packed header (see pack)
	Body   []byte  // nil when the body lives in a memfd (mb) or only on disk
	// mb holds a memory-tier body of at least MemfdMin bytes, served with
	// sendfile; nil for heap bodies (see memfd.go).
	mb   *memBody
	Size int64 // body length

	RespTime int64 // unix ns the response arrived (or was revalidated)
	InitAge  int64 // corrected initial age, ns (RFC 9111 4.2.3)
	Fresh    int64 // freshness lifetime, ns
	SWR, SIE int64 // stale-while-revalidate, stale-if-error, ns; -1 absent
	Grace    int64 // operator always-online window, ns
	// NoStale is set by must-revalidate, proxy-revalidate or s-maxage: the
	// object is never served stale (except by an explicit stale-if-error).
	NoStale bool
	NoCache bool // every use needs revalidation
	AuthOK  bool // may answer requests carrying Authorization
	ETag    string
	LastMod string

	// VaryNames is set on a Vary marker: the canonical request header
	// names, and Nonce ties its variants to this marker, so variants of an
	// invalidated marker are never found again.
	VaryNames []string
	Nonce     uint64
	Marker    bool
	// HitForMiss markers expire at Until (unix ns).
	HitForMiss bool
	Until      int64

	invalidAt atomic.Int64 // soft purge: stale from this unix ns on
	// variants caches the keys of o's encoded variants (encoded.go).
	variants atomic.Pointer[[]variantRef]
}

// age returns the object's current age at now (RFC 9111 4.2.3).
func (o *Object) age(now int64) int64 {
	a := o.InitAge + now - o.RespTime
	if a < 0 {
		return 0
	}
	return a
}

// freshFor returns how much freshness is left at now: negative when stale,
// by how much it is stale.
func (o *Object) freshFor(now int64) int64 {
	left := o.Fresh - o.age(now)
	if inv := o.invalidAt.Load(); inv != 0 {
		if soft := inv - now; soft < left {
			left = soft
		}
	}
	return left
}

// weight is the object's cost in the memory tier.
func (o *Object) weight() uint32 {
	w := int64(len(o.Key)+len(o.URL)) + o.Size + 256
	for k, vv := range o.Header {
		w += int64(len(k)) + 16
		for _, v := range vv {
			w += int64(len(v)) + 16
		}
	}
	for _, f := range o.fields {
		w += int64(len(f.name)) + 40
		for _, v := range f.vals {
			w += int64(len(v)) + 16
		}
	}
	if !o.bodyInMemory() {
		w -= o.Size
	}
	if w > 1<<31 {
		return 1 << 31
	}
	return uint32(w)
}

// bodyInMemory reports whether o's body is held in memory (heap or memfd)
// rather than only on disk.
func (o *Object) bodyInMemory() bool { return o.Body != nil || o.mb != nil }

// usable reports whether o may answer a request with directives rd at now
// without contacting the origin: fresh enough, or stale within what the
// request allows. swr reports that it is usable only as
// stale-while-revalidate.
func (o *Object) usable(rd *directives, now int64) (ok, swr bool) {
	if o.NoCache || rd.noCache {
		return false, false
	}
	left := o.freshFor(now)
	if rd.maxAge >= 0 && o.age(now) > rd.maxAge*int64(time.Second) {
		return false, false
	}
	if rd.minFresh >= 0 && left < rd.minFresh*int64(time.Second) {
		return false, false
	}
	if left > 0 {
		return true, false
	}
	if o.NoStale {
		return false, false
	}
	stale := -left
	if rd.maxStaleAny || (rd.maxStale >= 0 && stale <= rd.maxStale*int64(time.Second)) {
		return true, false
	}
	if o.SWR >= 0 && stale <= o.SWR {
		return true, true
	}
	return false, false
}

// staleOnError reports whether o may be served because the origin failed.
func (o *Object) staleOnError(rd *directives, now int64) bool {
	stale := -o.freshFor(now)
	if stale < 0 {
		stale = 0
	}
	if o.SIE >= 0 && stale <= o.SIE {
		return true
	}
	if rd.sie >= 0 && stale <= rd.sie*int64(time.Second) && !o.NoStale {
		return true
	}
	return !o.NoStale && !o.NoCache && stale <= o.Grace
}

// clone copies o's plain fields and its header map (not the values).
func (o *Object) clone() *Object {
	c := &Object{Key: o.Key, URL: o.URL, Tags: o.Tags, Status: o.Status, Body: o.Body, mb: o.mb, Size: o.Size,
		RespTime: o.RespTime, InitAge: o.InitAge, Fresh: o.Fresh, SWR: o.SWR, SIE: o.SIE, Grace: o.Grace,
		NoStale: o.NoStale, NoCache: o.NoCache, AuthOK: o.AuthOK, ETag: o.ETag, LastMod: o.LastMod,
		VaryNames: o.VaryNames, Nonce: o.Nonce, Marker: o.Marker, HitForMiss: o.HitForMiss, Until: o.Until}
	c.Header = make(http.Header, len(o.Header)+len(o.fields)+1)
	o.copyHeaderTo(c.Header)
	return c
}

// field is one packed header field: a canonical name and its values,
// a len == cap slice shared by every answer.
type field struct {
	name string
	vals []string
}

// pack turns the header map into the packed form kept in the store: all
// names and values in one string, and two slices over it (three
// allocations whatever the number of fields, instead of a map with a
// slice and a string per field): less for the GC to mark, and a plain
// loop to serve. Call it before the object is published; it is a no-op
// once packed.
func (o *Object) pack() {
	if o.Header == nil {
		return
	}
	keys := make([]string, 0, len(o.Header))
	size, nv := 0, 0
	for k, vv := range o.Header {
		keys = append(keys, k)
		size += len(k)
		for _, v := range vv {
			size += len(v)
			nv++
		}
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	for _, k := range keys {
		b = append(b, k...)
		for _, v := range o.Header[k] {
			b = append(b, v...)
		}
	}
	blob := string(b)
	all := make([]string, 0, nv)
	fields := make([]field, len(keys))
	off := 0
	for i, k := range keys {
		fields[i].name = blob[off : off+len(k)]
		off += len(k)
		start := len(all)
		for _, v := range o.Header[k] {
			all = append(all, blob[off:off+len(v)])
			off += len(v)
		}
		fields[i].vals = all[start:len(all):len(all)]
	}
	o.fields, o.Header = fields, nil
	if o.ETag != "" {
		o.ETag = o.get("Etag")
	}
	if o.LastMod != "" {
		o.LastMod = o.get("Last-Modified")
	}
}

// values returns the values of a canonical header name.
func (o *Object) values(name string) []string {
	if o.Header != nil {
		return o.Header[name]
	}
	for i := range o.fields {
		if o.fields[i].name == name {
			return o.fields[i].vals
		}
	}
	return nil
}

// get returns the first value of a canonical header name.
func (o *Object) get(name string) string {
	if v := o.values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// copyHeaderTo sets o's fields in h, sharing the value slices.
func (o *Object) copyHeaderTo(h http.Header) {
	for k, v := range o.Header {
		h[k] = v
	}
	for i := range o.fields {
		h[o.fields[i].name] = o.fields[i].vals
	}
}

// header returns o's header as a map (a new one when packed, sharing
// the value slices): for the cold paths that need a map.
func (o *Object) header() http.Header {
	if o.Header != nil {
		return o.Header
	}
	h := make(http.Header, len(o.fields))
	o.copyHeaderTo(h)
	return h
}
