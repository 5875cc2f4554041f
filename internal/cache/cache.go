// Package cache is levee's CDN cache: an RFC 9111 shared cache phase that
// answers from a node-level Store, fills misses from the origin once per
// key (coalescing followers onto the streaming fill), revalidates, serves
// stale within stale-while-revalidate, stale-if-error and the operator's
// always-online grace, invalidates after unsafe methods, and purges.
package cache

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"levee/internal/httpwire"
	"levee/internal/modswitch"
	"levee/internal/pipeline"
)

// Cache is the cache phase of one config generation: timeouts from the
// config, over the node's Store.
type Cache struct {
	store       *Store
	m           *Metrics
	lockTimeout time.Duration
	hitForMiss  time.Duration
	fillTimeout time.Duration
	goFn        func(name string, fn func())
	hookFind    func()            // tests: runs inside find, e.g. to panic
	mod         *modswitch.Module // kill switch and breaker: off, every request passes to the origin
	rules       []*Rules          // by router.Route.ID; nil: the route does not cache
}

// Settings are the generation-level settings of the cache phase.
type Settings struct {
	LockTimeout, HitForMiss, FillTimeout time.Duration
}

// New returns the cache phase over store.
func New(store *Store, st Settings) *Cache {
	c := &Cache{store: store, m: store.m, lockTimeout: st.LockTimeout,
		hitForMiss: st.HitForMiss, fillTimeout: st.FillTimeout, goFn: store.goFn}
	return c
}

// Bind attaches compiled rules to the route with the given ID and
// resolves their per-site counters. Call it at stage time, before the
// generation serves.
func (c *Cache) Bind(routeID int, ru *Rules, site string) {
	ru.site = c.m.site(site)
	if routeID >= len(c.rules) {
		c.rules = append(c.rules, make([]*Rules, routeID+1-len(c.rules))...)
	}
	c.rules[routeID] = ru
}

// rulesFor returns the rules of the exchange's route, or nil.
func (c *Cache) rulesFor(ex *pipeline.Exchange) *Rules {
	if ex == nil || ex.Route == nil || ex.Route.ID >= len(c.rules) {
		return nil
	}
	return c.rules[ex.Route.ID]
}

// Phase returns the pipeline phase.
func (c *Cache) Phase() pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return c.handle(next, w, r)
		})
	}
}

var errDiskGone = errors.New("cache: disk entry vanished")

var keyPool = sync.Pool{New: func() any { return &key{buf: make([]byte, 0, 256)} }}

func (c *Cache) handle(next pipeline.Handler, w http.ResponseWriter, r *http.Request) error {
	ex := pipeline.From(w)
	ru := c.rulesFor(ex)
	if ru == nil {
		return next.ServeHTTP(w, r)
	}
	if c.mod != nil && !c.mod.Active() {
		// Killed, or its breaker open after lookup panics: the cache
		// fails open, neither serving nor storing.
		return c.pass(next, w, r, ru, csOff)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return c.unsafe(next, w, r, ru, ex)
	}
	if len(r.Header["Upgrade"]) > 0 {
		return c.pass(next, w, r, ru, csUpgrade)
	}
	if ru.bypass(r) {
		return c.pass(next, w, r, ru, csBypass)
	}
	rd := parseDirectives(r.Header["Cache-Control"])
	k := keyPool.Get().(*key)
	defer keyPool.Put(k)
	// The exchange's start time is microseconds old: good enough for
	// freshness, counted in seconds, and it saves a clock read per hit.
	now := ex.Start.UnixNano()
	o, h, plen, ok := c.find(ru, r, k, now)
	if !ok {
		return c.pass(next, w, r, ru, csFailOpen)
	}
	urlLen := k.urlLen
	if o != nil && o.mb != nil {
		// Pin the memfd body for the request, so a revalidation or a
		// stale answer can still serve it if it is evicted meanwhile.
		if !o.mb.acquire() {
			o = nil // evicted between the lookup and now: a miss
		} else {
			defer o.mb.release()
		}
	}
	if o != nil && o.HitForMiss {
		if now < o.Until {
			// Known uncacheable: straight to the origin, in parallel, at
			// the cost of a plain proxy (no fill machinery).
			return c.pass(next, w, r, ru, csHFM)
		}
		o = nil
	}
	if o != nil && len(r.Header["Authorization"]) > 0 && !o.AuthOK {
		o = nil
	}
	if o != nil {
		if ok, swr := o.usable(&rd, now); ok {
			cs := csHit
			switch {
			case swr:
				cs = csSWR
				ru.site.stale.Inc()
				ex.Decide("stale")
				c.refresh(next, ex, r, ru, string(k.buf[:plen]), urlLen, h, o)
			case o.freshFor(now) <= 0:
				cs = csMaxStale
				ru.site.stale.Inc()
				ex.Decide("stale")
			default:
				ru.site.hit.Inc()
				ex.Decide("hit")
			}
			err := c.serveHit(w, r, o, cs, now)
			if err != errDiskGone {
				return err
			}
			c.store.remove(h)
			o = nil
		}
	}
	if ru.Slice > 0 && o == nil {
		return c.sliced(next, w, r, ru, heapDirectives(rd), string(k.buf[:plen]), urlLen)
	}
	if rd.onlyIfCached {
		return onlyIfCached(w)
	}
	return c.fetch(next, w, r, ru, heapDirectives(rd), string(k.buf[:plen]), urlLen, h, o)
}

// find looks r up, following a Vary marker to the variant. A panic in it
// is contained and the request bypasses the cache: the cache fails open.
func (c *Cache) find(ru *Rules, r *http.Request, k *key, now int64) (o *Object, h uint64, plen int, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.store.onPanic("cache-lookup", v)
			if c.mod != nil {
				c.mod.Failed("panic")
			}
			ok = false
		}
	}()
	if c.hookFind != nil {
		c.hookFind()
	}
	k.build(ru, r)
	plen = len(k.buf)
	h = k.hash()
	o = c.store.lookup(h, k.buf)
	if o != nil && o.Marker {
		k.variant(o, r)
		h = k.hash()
		o = c.store.lookup(h, k.buf)
	}
	return o, h, plen, true
}

// heapDirectives moves directives to the heap for the miss path only, so
// the hit path allocates nothing for them.
func heapDirectives(rd directives) *directives { return &rd }

// onlyIfCached answers a request that forbids going to the origin when
// nothing usable is stored: 504 (RFC 9111 5.2.1.7).
func onlyIfCached(w http.ResponseWriter) error {
	h := w.Header()
	h["Cache-Status"] = csOnlyIf
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = w.Write([]byte("504 Gateway Timeout: not in cache (only-if-cached)\n"))
	return nil
}

// pass sends r to the origin untouched, marking the response.
func (c *Cache) pass(next pipeline.Handler, w http.ResponseWriter, r *http.Request, ru *Rules, cs []string) error {
	ru.site.bypass.Inc()
	if ex := pipeline.From(w); ex != nil {
		ex.Decide("bypass")
	}
	w.Header()["Cache-Status"] = cs
	return next.ServeHTTP(passWriter(w, r), r)
}

// passWriter wraps the client's writer for a request passed through. An
// unsafe method's answer is read after it is sent (invalidation reads
// Location and Content-Location from the header map), so its fields must
// land in the map.
func passWriter(w http.ResponseWriter, r *http.Request) *untargeted {
	keep := r.Method != http.MethodGet && r.Method != http.MethodHead
	return &untargeted{ResponseWriter: w, keepFields: keep}
}

// untargeted passes a response through, without the origin's
// Levee-Cache-Control: that field is for this cache, and is not forwarded
// (the fill path drops it when it copies the origin's header).
type untargeted struct {
	http.ResponseWriter
	wrote bool
	// keepFields: the origin's fields must land in the header map, so
	// WriteWireHead declines.
	keepFields bool
}

// WriteWireHead passes a head given as wire bytes on, unless it holds the
// field this wrapper removes or the fields are wanted in the map.
func (u *untargeted) WriteWireHead(code int, length int64, fields []byte, hasDate bool) bool {
	inner, ok := u.ResponseWriter.(httpwire.HeadWriter)
	if !ok || u.wrote || u.keepFields || httpwire.Has(fields, "Levee-Cache-Control") {
		return false
	}
	if !inner.WriteWireHead(code, length, fields, hasDate) {
		return false
	}
	u.wrote = true
	return true
}

func (u *untargeted) WriteHeader(code int) {
	if !u.wrote && code >= 200 {
		u.wrote = true
		delete(u.Header(), "Levee-Cache-Control")
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *untargeted) Write(p []byte) (int, error) {
	if !u.wrote {
		u.WriteHeader(http.StatusOK)
	}
	return u.ResponseWriter.Write(p)
}

// Unwrap lets pipeline.From and http.ResponseController (flush, deadlines)
// reach the client's writer.
func (u *untargeted) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// unsafe forwards a request with another method; after a successful
// unsafe one it invalidates the URL and same-host Location and
// Content-Location (RFC 9111 4.4).
func (c *Cache) unsafe(next pipeline.Handler, w http.ResponseWriter, r *http.Request, ru *Rules, ex *pipeline.Exchange) error {
	err := c.pass(next, w, r, ru, csMethod)
	switch r.Method {
	case http.MethodOptions, http.MethodTrace, "PRI":
		return err
	}
	if err == nil && ex.Status >= 200 && ex.Status < 400 {
		c.invalidate(ru, r, w.Header())
	}
	return err
}
