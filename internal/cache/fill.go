package cache

import (
	"context"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"levee/internal/pipeline"
)

// Modes of a fill writer once the origin's status is known.
const (
	modeUndecided = iota
	modeTee       // store (or share) and send to the client
	modePass      // send to the client only
	modeDiscard   // the client is answered from an object afterwards
)

// fill is the leader's side of one origin fetch. It is the ResponseWriter
// the rest of the chain (the proxy) writes to: it decides at WriteHeader
// whether the response is stored, shared with followers, merged into a
// stale object (304), or replaced by a stale object (5xx).
type fill struct {
	c      *Cache
	client http.ResponseWriter
	r      *http.Request // the client's request, unmodified
	ru     *Rules
	rd     *directives
	f      *flight
	hdr    http.Header
	stale  *Object
	// ownValidators: the request to the origin carries the stale object's
	// validators, so a 304 revalidates it.
	ownValidators bool

	primary string
	urlLen  int
	h       uint64
	reqTime time.Time

	mode          int
	store         bool // tee into the store (else only shared)
	obj           *Object
	size          int64
	clientSkip    bool // HEAD or 304 to the client: body not sent
	ranged        bool // the client gets bytes [rStart, rEnd) of the body
	rStart, rEnd  int64
	pos           int64 // body bytes seen, for ranged
	clientErr     bool
	answer        *Object // modeDiscard: the object to answer with
	answerCS      []string
	purgeSeqStart uint64
}

// fetch joins or leads the fill for h.
func (c *Cache) fetch(next pipeline.Handler, w http.ResponseWriter, r *http.Request, ru *Rules, rd *directives,
	primary string, urlLen int, h uint64, stale *Object) error {
	f, lead := c.store.flights.join(h)
	ex := pipeline.From(w)
	if !lead {
		ex.Decide("collapsed")
		return c.follow(next, w, r, ru, rd, f, stale)
	}
	if stale != nil {
		ex.Decide("revalidate")
	} else {
		ex.Decide("miss")
	}
	if f == nil {
		c.m.Overflow.WithLabelValues("inflight").Inc()
	}
	defer c.store.flights.leave(h, f)
	return c.lead(next, w, r, ru, rd, f, primary, urlLen, h, stale)
}

// lead fetches from the origin for w's request and, if f is not nil, for
// the followers of f.
func (c *Cache) lead(next pipeline.Handler, w http.ResponseWriter, r *http.Request, ru *Rules, rd *directives, f *flight,
	primary string, urlLen int, h uint64, stale *Object) error {
	if f == nil {
		f = newFlight() // untracked: nobody follows it
	}
	defer func() {
		if v := recover(); v != nil {
			f.abandon()
			panic(v)
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.fillTimeout)
	defer cancel()
	out := r.Clone(ctx)
	// The whole object is fetched (it is what gets stored); If-Match,
	// If-Unmodified-Since and If-Range are answered by the cache from it.
	for _, k := range []string{"If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		delete(out.Header, k)
	}
	out.Method = http.MethodGet
	ownValidators := stale != nil && !stale.Marker && (stale.ETag != "" || stale.LastMod != "")
	if ownValidators {
		// Revalidating the stored object: its validators replace the
		// client's, so a 304 is about what the cache holds.
		delete(out.Header, "If-None-Match")
		delete(out.Header, "If-Modified-Since")
		if stale.ETag != "" {
			out.Header["If-None-Match"] = []string{stale.ETag}
		}
		if stale.LastMod != "" {
			out.Header["If-Modified-Since"] = []string{stale.LastMod}
		}
	}
	// Otherwise the client's own If-None-Match / If-Modified-Since go to
	// the origin as sent, so it can answer 304 instead of the whole body;
	// such a 304 is relayed, never stored (it validates the client's copy).
	fl := c.newFill(w, r, ru, rd, f, primary, urlLen, h, stale)
	fl.ownValidators = ownValidators
	err := next.ServeHTTP(fl, out)
	return fl.end(err)
}

// newFill is the writer of one fill of the object under primary (hash h)
// for the client w asking r.
func (c *Cache) newFill(w http.ResponseWriter, r *http.Request, ru *Rules, rd *directives, f *flight,
	primary string, urlLen int, h uint64, stale *Object) *fill {
	return &fill{c: c, client: w, r: r, ru: ru, rd: rd, f: f, hdr: http.Header{}, stale: stale,
		primary: primary, urlLen: urlLen, h: h, reqTime: time.Now(), purgeSeqStart: c.store.purgeSeq.Load()}
}

// Header returns the origin response's header, kept apart from the
// client's until the status is known.
func (fl *fill) Header() http.Header { return fl.hdr }

// Unwrap lets pipeline.From and http.ResponseController reach the client.
func (fl *fill) Unwrap() http.ResponseWriter { return fl.client }

// Flush flushes the client while streaming.
func (fl *fill) Flush() {
	if (fl.mode == modeTee || fl.mode == modePass) && !fl.clientErr && !fl.clientSkip {
		if fw, ok := fl.client.(http.Flusher); ok {
			fw.Flush()
		}
	}
}

// WriteHeader decides what to do with the origin's response.
func (fl *fill) WriteHeader(code int) {
	if code < 200 {
		// 1xx (103 Early Hints): to the leader's client only, never
		// stored nor shared with followers.
		if fl.mode == modeUndecided && !fl.background() {
			writeInterim(fl.client, code, fl.hdr)
		}
		return
	}
	if fl.mode != modeUndecided {
		return
	}
	now := time.Now()
	switch {
	case fl.ownValidators && code == http.StatusNotModified:
		fl.revalidated(now)
	case code >= 500 && fl.stale != nil && fl.stale.staleOnError(fl.rd, now.UnixNano()):
		fl.ru.site.fillErrors.Inc()
		fl.f.status = code
		fl.f.publish(flightFailed, nil)
		fl.mode = modeDiscard
		fl.answer, fl.answerCS = fl.stale, staleStatus(strconv.Itoa(code))
		fl.ru.site.stale.Inc()
		fl.c.noteStaleOnError(fl.client, nil, code)
	default:
		fl.fresh(code, now)
	}
}

// revalidated merges a 304 into the stale object (RFC 9111 4.3.4).
func (fl *fill) revalidated(now time.Time) {
	o := fl.c.merge(fl.stale, fl.hdr, fl.r, fl.ru, fl.reqTime, now)
	fl.mode = modeDiscard
	fl.answer, fl.answerCS = o, csReval
	fl.ru.site.revalidated.Inc()
	fl.f.publish(flightObject, o)
}

// fresh handles a full response: stored, shared, or passed through.
func (fl *fill) fresh(code int, now time.Time) {
	hasAuth := len(fl.r.Header["Authorization"]) > 0
	a := analyze(code, fl.hdr, fl.rd, hasAuth, fl.ru, fl.reqTime, now)
	if a.obj != nil {
		if cl, err := strconv.ParseInt(fl.hdr.Get("Content-Length"), 10, 64); err == nil && cl > fl.ru.MaxObject {
			a = analysis{reason: "too-large"}
		}
	}
	dst := fl.client.Header()
	for k, vv := range fl.hdr {
		dst[k] = vv
	}
	delete(dst, "Levee-Cache-Control")
	switch {
	case a.obj != nil:
		fl.mode, fl.store, fl.obj = modeTee, true, a.obj
		fl.f.varySel = varySelection(fl.r, varyNames(fl.hdr["Vary"]))
		fl.f.publish(flightStream, a.obj)
		dst["Cache-Status"] = csStored
		if fl.stale != nil {
			dst["Cache-Status"] = csRefreshed
		}
	case shareable(code, fl.hdr, &a):
		// An error response nobody may store is still shared with the
		// followers that asked at the same time: no stampede on a
		// failing origin.
		o := &Object{Status: code, Header: storedHeader(fl.hdr, nil, false), SWR: -1, SIE: -1}
		fl.mode, fl.obj = modeTee, o
		fl.f.publish(flightStream, o)
		dst["Cache-Status"] = []string{"levee; fwd=miss; fwd-status=" + strconv.Itoa(code) + "; detail=" + a.reason}
		fl.ru.site.fillErrors.Inc()
	default:
		fl.mode = modePass
		fl.f.publish(flightNoShare, nil)
		fl.rememberUncacheable(a.reason, now)
		dst["Cache-Status"] = []string{"levee; fwd=miss; detail=" + a.reason}
	}
	if fl.stale == nil || fl.mode != modeTee {
		fl.ru.site.miss.Inc()
	} else {
		fl.ru.site.revalidated.Inc()
	}
	if fl.mode == modeTee && fl.obj != nil {
		probe := &Object{Status: code, ETag: fl.hdr.Get("Etag"), LastMod: fl.hdr.Get("Last-Modified"), Header: fl.hdr}
		if st := preconditions(fl.r, probe); st == http.StatusNotModified {
			for _, k := range notModifiedDrop {
				delete(dst, k)
			}
			fl.clientSkip = true
			fl.client.WriteHeader(st)
			return
		}
	}
	if code == http.StatusOK {
		code = fl.applyRange(dst, code)
	}
	if fl.r.Method == http.MethodHead {
		fl.clientSkip = true
	}
	fl.client.WriteHeader(code)
}

// applyRange answers a Range request on a miss with 206 (or 416), cut
// from the full response that is fetched and stored; it needs the
// response's Content-Length.
func (fl *fill) applyRange(dst http.Header, code int) int {
	rg := fl.r.Header["Range"]
	if len(rg) == 0 || !ifRange(fl.r, &Object{ETag: fl.hdr.Get("Etag"), LastMod: fl.hdr.Get("Last-Modified")}) {
		return code
	}
	size, err := strconv.ParseInt(fl.hdr.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return code
	}
	start, n, ok := parseRange(rg[0], size)
	switch {
	case !ok:
		return code
	case n < 0:
		delete(dst, "Content-Length")
		dst["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		fl.clientSkip = true
		return http.StatusRequestedRangeNotSatisfiable
	}
	dst["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" +
		strconv.FormatInt(start+n-1, 10) + "/" + strconv.FormatInt(size, 10)}
	dst["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	fl.ranged, fl.rStart, fl.rEnd = true, start, start+n
	return http.StatusPartialContent
}

// clientWrite sends body bytes to the client, only those in its range.
func (fl *fill) clientWrite(p []byte) (int, error) {
	if !fl.ranged {
		return fl.client.Write(p)
	}
	lo, hi := fl.pos, fl.pos+int64(len(p))
	fl.pos = hi
	a, b := max(lo, fl.rStart), min(hi, fl.rEnd)
	if a >= b {
		return len(p), nil
	}
	_, err := fl.client.Write(p[a-lo : b-lo])
	return len(p), err
}

// shareable reports whether an unstorable response may still be streamed
// to the followers of its fill: 5xx errors that carry nothing private.
func shareable(code int, h http.Header, a *analysis) bool {
	if code < 500 || len(h["Set-Cookie"]) > 0 {
		return false
	}
	switch a.reason {
	case "private", "no-store", "request-no-store", "authorization", "vary-star":
		return false
	}
	return true
}

// rememberUncacheable stores a hit-for-miss marker, so the URL's next
// requests go to the origin in parallel instead of queueing on fills. A
// stale object the origin now refuses to let us keep is dropped.
func (fl *fill) rememberUncacheable(reason string, now time.Time) {
	switch reason {
	case "authorization", "request-no-store", "status":
		return
	}
	if fl.stale != nil {
		fl.c.store.remove(fl.h)
	}
	if fl.c.hitForMiss <= 0 {
		return
	}
	m := &Object{Key: fl.primary, URL: fl.primary[:fl.urlLen], HitForMiss: true, Header: http.Header{},
		Until: now.Add(fl.c.hitForMiss).UnixNano(), SWR: -1, SIE: -1}
	fl.c.store.putMarker(hashKey(fl.primary), m)
}

// Write tees the body into the flight and to the client.
func (fl *fill) Write(p []byte) (int, error) {
	if fl.mode == modeUndecided {
		fl.WriteHeader(http.StatusOK)
	}
	switch fl.mode {
	case modeDiscard:
		return len(p), nil
	case modePass:
		if fl.clientSkip {
			return len(p), nil
		}
		return fl.clientWrite(p)
	}
	if fl.store && fl.size+int64(len(p)) > fl.ru.MaxObject {
		// Too large after all (no or wrong Content-Length): stop storing;
		// followers are cut, the client keeps streaming.
		fl.store = false
		fl.f.finish(true)
		fl.mode = modePass
		fl.rememberUncacheable("too-large", time.Now())
		return fl.Write(p)
	}
	fl.f.append(p)
	fl.size += int64(len(p))
	if !fl.clientSkip && !fl.clientErr {
		if _, err := fl.clientWrite(p); err != nil {
			// Keep filling for the store and the followers.
			fl.clientErr = true
		}
	}
	return len(p), nil
}

// end finishes the fill after the origin exchange returned err.
func (fl *fill) end(err error) error {
	c := fl.c
	if fl.mode == modeUndecided {
		if err == nil {
			fl.WriteHeader(http.StatusOK)
		} else {
			return fl.failed(err)
		}
	}
	if err == nil && (fl.mode == modeTee || fl.mode == modePass) && !fl.clientSkip {
		fl.forwardTrailers()
	}
	switch fl.mode {
	case modeDiscard:
		if fl.answer == nil || fl.background() {
			return err
		}
		if serr := c.serve(fl.client, fl.r, fl.answer, fl.answerCS, time.Now().UnixNano()); serr != errDiskGone {
			return serr
		}
		return pipeline.Errorf(pipeline.SourceInternal, http.StatusBadGateway, "cache_disk", "cached object vanished", nil)
	case modeTee:
		if err != nil {
			fl.f.finish(true)
			fl.ru.site.fillErrors.Inc()
			return err
		}
		fl.f.finish(false)
		if fl.store {
			c.storeFill(fl)
		}
		return nil
	}
	return err
}

// forwardTrailers passes the origin's trailers (set by the proxy after
// the body) to the client. Stored objects do not keep them.
func (fl *fill) forwardTrailers() {
	var dst http.Header
	for k, vv := range fl.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if dst == nil {
				dst = fl.client.Header()
			}
			dst[k] = vv
		}
	}
}

// failed handles an origin failure before any response: stale if
// allowed, else the error, shared with the followers.
func (fl *fill) failed(err error) error {
	e := pipeline.Classify(err)
	if e.Source == pipeline.SourceClient {
		fl.f.publish(flightNoShare, nil)
		return err
	}
	fl.ru.site.fillErrors.Inc()
	fl.f.err = err
	fl.f.publish(flightFailed, nil)
	fl.client.Header()["Cache-Status"] = []string{"levee; fwd=miss; detail=origin-" + e.Kind}
	now := time.Now().UnixNano()
	if fl.stale != nil && fl.stale.staleOnError(fl.rd, now) {
		fl.ru.site.stale.Inc()
		fl.c.noteStaleOnError(fl.client, e, 0)
		if serr := fl.c.serve(fl.client, fl.r, fl.stale, staleStatus(e.Kind), now); serr != errDiskGone {
			return serr
		}
	}
	return err
}

func staleStatus(why string) []string {
	return []string{"levee; fwd=stale; detail=stale-if-error; fwd-status=" + why}
}

// storeFill stores a completed fill, with its Vary marker if it varies.
func (c *Cache) storeFill(fl *fill) {
	// Followers may still read the object the flight published: store a
	// copy with its own header map.
	o := fl.obj.clone()
	o.Body = fl.f.buf[:fl.size:fl.size]
	if o.Body == nil {
		o.Body = []byte{}
	}
	o.setLength(fl.size)
	o.Tags = parseTags(o.Header)
	o.URL = fl.primary[:fl.urlLen]
	if c.store.purgeSeq.Load() != fl.purgeSeqStart {
		// A purge ran while this fill was in flight: the response may
		// predate it, so keep it only as stale.
		o.invalidAt.Store(time.Now().UnixNano())
	}
	defer c.variantAtFill(fl.client, o)
	names := varyNames(o.Header["Vary"])
	if len(names) == 0 {
		o.Key = fl.primary
		c.store.put(hashKey(fl.primary), o)
		return
	}
	ph := hashKey(fl.primary)
	m := c.store.lookup(ph, []byte(fl.primary))
	if m == nil || !m.Marker || !slices.Equal(m.VaryNames, names) {
		m = &Object{Key: fl.primary, URL: o.URL, Marker: true, VaryNames: names, Nonce: rand.Uint64(),
			Header: http.Header{}, Body: []byte{}, SWR: -1, SIE: -1}
		c.store.put(ph, m)
	}
	k := &key{buf: []byte(fl.primary), urlLen: fl.urlLen}
	k.variant(m, fl.r)
	o.Key = string(k.buf)
	c.store.put(k.hash(), o)
}

// merge builds the object that a 304 revalidates: the stored header
// updated with the 304's fields, freshness recomputed.
func (c *Cache) merge(stale *Object, h304 http.Header, r *http.Request, ru *Rules, reqTime, now time.Time) *Object {
	sh := stale.header()
	h := make(http.Header, len(sh)+len(h304))
	for k, vv := range sh {
		h[k] = vv
	}
	nominated := connectionNominated(h304)
	for k, vv := range h304 {
		if notUpdated(k) || nominated[k] {
			continue
		}
		h[k] = vv
	}
	rd := directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	a := analyze(stale.Status, h, &rd, false, ru, reqTime, now)
	o := a.obj
	if o == nil {
		// The 304 made it unstorable: answer once, keep nothing.
		c.store.remove(hashKey(stale.Key))
		o = &Object{Status: stale.Status, Header: storedHeader(h, nil, false), SWR: -1, SIE: -1, RespTime: now.UnixNano()}
	}
	o.Key, o.URL, o.Body, o.mb, o.Size = stale.Key, stale.URL, stale.Body, stale.mb, stale.Size
	if cl := sh["Content-Length"]; cl != nil {
		o.Header["Content-Length"] = cl
	}
	o.Tags = parseTags(o.Header)
	if a.obj != nil {
		c.store.put(hashKey(o.Key), o)
	}
	return o
}

// writeInterim sends a 1xx with fields h to w, leaving w's header as it
// was for the final response.
func writeInterim(w http.ResponseWriter, code int, h http.Header) {
	dst := w.Header()
	saved := maps.Clone(dst)
	clear(dst)
	maps.Copy(dst, h)
	w.WriteHeader(code)
	clear(dst)
	maps.Copy(dst, saved)
}

// notUpdated reports whether a 304's field must not replace the stored
// one. RFC 9111 3.2: every field of the 304 replaces the stored one
// except Content-Length, the fields excepted from storage (3.1: the
// hop-by-hop ones and those a Connection field names; they are dropped
// again by storedHeader, but must not first overwrite a stored value),
// the fields the stored response depends on (none here: levee stores the
// body as received, not decoded or parsed, so a new Content-Encoding or
// Content-Type is taken as the origin sends it), and the fields the
// implementation processes itself: Content-Range, which levee computes
// for each Range answer from the whole stored body.
func notUpdated(k string) bool {
	switch k {
	case "Content-Length", "Content-Range",
		"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionNominated returns the canonical names the Connection field
// lists (hop-by-hop, RFC 9110 7.6.1).
func connectionNominated(h http.Header) map[string]bool {
	var m map[string]bool
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[http.CanonicalHeaderKey(f)] = true
			}
		}
	}
	return m
}

// refresh revalidates o in the background (stale-while-revalidate), once.
func (c *Cache) refresh(next pipeline.Handler, ex *pipeline.Exchange, r *http.Request, ru *Rules,
	primary string, urlLen int, h uint64, o *Object) {
	if c.store.flights.busy(h) {
		return
	}
	bg := pipeline.NewExchange(discard{h: http.Header{}}, time.Now())
	bg.ID, bg.Site, bg.Route, bg.Peer, bg.Client = ex.ID, ex.Site, ex.Route, ex.Peer, ex.Client
	r2 := r.Clone(context.WithoutCancel(r.Context()))
	// A background refresh has no client to relay a 304 to: it must get
	// the whole object when the stored one has no validator.
	delete(r2.Header, "If-None-Match")
	delete(r2.Header, "If-Modified-Since")
	c.goFn("cache-refresh", func() {
		f, lead := c.store.flights.join(h)
		if !lead || f == nil {
			return
		}
		defer c.store.flights.leave(h, f)
		rd := directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
		_ = c.lead(next, bg, r2, ru, &rd, f, primary, urlLen, h, o)
	})
}

// background reports whether this fill has no client (a refresh).
func (fl *fill) background() bool {
	ex := pipeline.From(fl.client)
	if ex == nil {
		return false
	}
	_, ok := ex.Unwrap().(discard)
	return ok
}

// discard is the client of a background fill.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

// varySelection is a request's normalised values of the Vary names.
func varySelection(r *http.Request, names []string) string {
	if len(names) == 0 {
		return ""
	}
	var b []byte
	for _, n := range names {
		b = append(b, n...)
		b = append(b, '=')
		b = appendNormalized(b, r.Header[n])
		b = append(b, 0)
	}
	return string(b)
}

// maxTags bounds the tags kept per object.
const maxTags = 64

// parseTags reads Cache-Tag (comma-separated) and Surrogate-Key
// (space-separated) into at most maxTags tags.
func parseTags(h http.Header) []string {
	var tags []string
	add := func(t string) {
		if t = strings.TrimSpace(t); t != "" && len(t) <= 256 && len(tags) < maxTags {
			tags = append(tags, t)
		}
	}
	for _, v := range h["Cache-Tag"] {
		for _, t := range strings.Split(v, ",") {
			add(t)
		}
	}
	for _, v := range h["Surrogate-Key"] {
		for _, t := range strings.Fields(v) {
			add(t)
		}
	}
	return tags
}

var _ http.ResponseWriter = (*fill)(nil)
var _ http.Flusher = (*fill)(nil)
