package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"levee/internal/pipeline"
)

// Slicing (a route's cache.slice): an object is cached as aligned pieces
// of ru.Slice bytes, each fetched with "Range: bytes=a-b" and stored as a
// 206 under its own key, the way nginx's slice module does it. A request
// is answered from the pieces its range covers; the first piece it needs
// tells the representation's length and validators, and a piece of
// another version is never combined with it (RFC 9111 3.4).

// Cache-Status values of sliced answers.
var (
	csSliceHit  = []string{"levee; hit; detail=slice"}
	csSliceMiss = []string{"levee; fwd=miss; stored; detail=slice"}
)

// sliceRequestDropped are the client's fields a slice request does not
// carry: the cache asks for the piece itself and answers the client's
// conditions from it.
var sliceRequestDropped = []string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

var (
	errSliceNotCached = errors.New("cache: slice not stored (only-if-cached)")
	errSliceVersion   = pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_slice",
		"the origin's object changed while its slices were combined; its slices were dropped", nil)
)

// sliceKey is the key of piece i of the object under primary.
func sliceKey(primary string, i int64) string {
	return primary + "\x00s:" + strconv.FormatInt(i, 10)
}

// piece is one slice as a request uses it.
type piece struct {
	o      *Object // header and validators; a stored piece's body too
	body   []byte  // a piece just fetched or shared by a fill; nil: o's body
	start  int64   // offset of its first byte in the representation
	n      int64   // its length
	total  int64   // the representation's length
	cached bool
}

// sameVersion reports whether q may be combined with p: same length and
// the same validators.
func (p *piece) sameVersion(q *piece) bool {
	return p.total == q.total && p.o.ETag == q.o.ETag && p.o.LastMod == q.o.LastMod
}

// sliceReq is one client request answered from slices.
type sliceReq struct {
	c       *Cache
	next    pipeline.Handler
	w       http.ResponseWriter
	r       *http.Request
	ru      *Rules
	rd      *directives
	primary string
	urlLen  int
}

// sliced answers a GET or HEAD that found no whole object on a route
// with slicing.
func (c *Cache) sliced(next pipeline.Handler, w http.ResponseWriter, r *http.Request, ru *Rules, rd *directives,
	primary string, urlLen int) error {
	sr := &sliceReq{c: c, next: next, w: w, r: r, ru: ru, rd: rd, primary: primary, urlLen: urlLen}
	rg := r.Header["Range"]
	probeAt := int64(0)
	if len(rg) > 0 {
		probeAt = firstSlice(rg[0], ru.Slice)
	}
	var first *piece
	if probeAt > 0 {
		// A stored first slice tells the length: a range past the end
		// costs the origin nothing.
		if p0 := sr.stored(hashKey(sliceKey(primary, 0)), sliceKey(primary, 0), 0); p0 != nil && probeAt*ru.Slice >= p0.total {
			first = p0
		}
	}
	var handled bool
	var err error
	if first == nil {
		first, handled, err = sr.get(probeAt, true, false)
	}
	switch {
	case handled:
		return err
	case err == errSliceNotCached:
		return onlyIfCached(w)
	case err != nil:
		return err
	}
	return sr.answer(first)
}

// firstSlice is the slice holding the first byte of a single range; 0 for
// a suffix range (the length is not known yet) or anything else.
func firstSlice(v string, size int64) int64 {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0
	}
	a, _, ok := strings.Cut(strings.TrimSpace(spec), "-")
	first, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil || first < 0 {
		return 0
	}
	return min(first/size, MaxSlices)
}

// answer writes the client's answer, first telling the length and the
// validators: the header, then the bytes of every slice the range covers.
func (sr *sliceReq) answer(first *piece) error {
	w, r, size := sr.w, sr.r, sr.ru.Slice
	total := first.total
	start, n, status := int64(0), total, http.StatusOK
	if rg := r.Header["Range"]; len(rg) > 0 && ifRange(r, first.o) {
		s, m, ok := parseRange(rg[0], total)
		switch {
		case ok && m < 0:
			return sr.unsatisfiable(first)
		case ok:
			start, n, status = s, m, http.StatusPartialContent
		}
	}
	if first.o.Status == http.StatusRequestedRangeNotSatisfiable && n > 0 {
		// The probe was past the end but the answer needs bytes (an
		// If-Range that no longer matches): the piece holding the first
		// byte tells the validators instead.
		p, _, err := sr.get(start/size, false, false)
		if err != nil {
			return err
		}
		if p.total != total {
			return errSliceVersion
		}
		first = p
	}
	if sr.rd.onlyIfCached && !sr.allStored(start, n) {
		return onlyIfCached(sr.w)
	}
	if sr.preconditionsAnswered(first) {
		return nil
	}
	h := w.Header()
	delete(h, "Content-Range")
	h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	if status == http.StatusPartialContent {
		h["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" +
			strconv.FormatInt(start+n-1, 10) + "/" + strconv.FormatInt(total, 10)}
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return nil
	}
	end := start + n
	for i := start / size; i*size < end; i++ {
		p := first
		if i*size != first.start || first.n == 0 {
			var err error
			if p, err = sr.matching(i, first); err != nil {
				return err
			}
		}
		if err := sr.write(p, max(start, p.start), min(end, p.start+p.n)); err != nil {
			return err
		}
	}
	return nil
}

// allStored reports whether every slice of bytes [start, start+n) is
// stored and fresh enough, for a request that forbids the origin.
func (sr *sliceReq) allStored(start, n int64) bool {
	size := sr.ru.Slice
	for i := start / size; i*size < start+n; i++ {
		key := sliceKey(sr.primary, i)
		if sr.stored(hashKey(key), key, i) == nil {
			return false
		}
	}
	return true
}

// header fills the client's header from the first piece: its fields
// without the piece's own Content-Range, Age and Cache-Status, and
// counts the request.
func (sr *sliceReq) header(first *piece) http.Header {
	h := sr.w.Header()
	first.o.copyHeaderTo(h)
	delete(h, "Content-Range")
	ex := pipeline.From(sr.w)
	if first.cached {
		h["Age"] = ageValue(first.o.age(time.Now().UnixNano()))
		h["Cache-Status"] = csSliceHit
		sr.ru.site.hit.Inc()
		ex.Decide("hit")
	} else {
		h["Age"] = ageValues[0]
		h["Cache-Status"] = csSliceMiss
		sr.ru.site.miss.Inc()
		ex.Decide("miss")
	}
	delete(h, "Levee-Cache-Control")
	return h
}

// preconditionsAnswered answers the client's conditional request (304,
// 412) from the first piece's validators, or writes the header.
func (sr *sliceReq) preconditionsAnswered(first *piece) bool {
	h := sr.header(first)
	whole := &Object{Status: http.StatusOK, ETag: first.o.ETag, LastMod: first.o.LastMod, Header: h}
	st := preconditions(sr.r, whole)
	if st == 0 {
		return false
	}
	writePrecondition(sr.w, st, h["Cache-Status"])
	return true
}

// unsatisfiable answers 416 with the representation's length (RFC 9110
// 15.5.17).
func (sr *sliceReq) unsatisfiable(first *piece) error {
	h := sr.header(first)
	delete(h, "Content-Length")
	h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(first.total, 10)}
	sr.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
	return nil
}

// matching returns piece i of the same version as first. A stored piece
// of another version is fetched again; a fetched one of another version
// means the object changed at the origin: every slice is dropped and the
// answer, whose header is sent already, is cut.
func (sr *sliceReq) matching(i int64, first *piece) (*piece, error) {
	for _, skipStore := range []bool{false, true} {
		p, _, err := sr.get(i, false, skipStore)
		if err != nil {
			return nil, err
		}
		if first.sameVersion(p) {
			return p, nil
		}
		if !p.cached {
			break
		}
	}
	sr.c.dropSlices(sr.primary, sr.ru.Slice, first.total)
	sr.c.store.log.Warn("cache: slices of two versions, dropped", "url", sr.primary[:sr.urlLen])
	return nil, errSliceVersion
}

// write sends bytes [from, to) of the representation, which p holds, to
// the client. A stored piece whose body has gone meanwhile is fetched
// again.
func (sr *sliceReq) write(p *piece, from, to int64) error {
	if from >= to {
		return nil
	}
	err := sr.c.copyPiece(sr.w, p, from-p.start, to-from)
	if err == errDiskGone {
		if p, _, err = sr.get(p.start/sr.ru.Slice, false, true); err != nil {
			return err
		}
		err = sr.c.copyPiece(sr.w, p, from-p.start, to-from)
	}
	if err != nil {
		return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_write", "client went away", err)
	}
	return nil
}

// copyPiece writes n bytes of p from off. errDiskGone: a stored body is
// not there any more, and nothing was written.
func (c *Cache) copyPiece(w io.Writer, p *piece, off, n int64) error {
	o := p.o
	switch {
	case p.body != nil:
		_, err := w.Write(p.body[off : off+n])
		return err
	case o.Body != nil:
		_, err := w.Write(o.Body[off : off+n])
		return err
	case o.mb != nil:
		if !o.mb.acquire() {
			return errDiskGone
		}
		defer o.mb.release()
		_, err := io.Copy(w, o.mb.reader(off, n))
		return err
	case c.store.disk == nil:
		return errDiskGone
	}
	f, err := c.store.disk.openBody(hashKey(o.Key), o.Size)
	if err != nil {
		return errDiskGone
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekCurrent); err != nil {
		return errDiskGone
	}
	_, err = io.Copy(w, &io.LimitedReader{R: f, N: n})
	return err
}

// get returns piece i: stored, shared from a fill in flight, or fetched.
// handled: the origin ignored the range and a whole-object fill answered
// the client (only for the probe, whose answer has not begun).
func (sr *sliceReq) get(i int64, probe, skipStore bool) (p *piece, handled bool, err error) {
	key := sliceKey(sr.primary, i)
	h := hashKey(key)
	if !skipStore {
		if p := sr.stored(h, key, i); p != nil {
			return p, false, nil
		}
	}
	if sr.rd.onlyIfCached {
		return nil, false, errSliceNotCached
	}
	f, lead := sr.c.store.flights.join(h)
	if !lead {
		sr.ru.site.coalesced.Inc()
		if p := sr.follow(f, i); p != nil {
			return p, false, nil
		}
		f = nil
	} else if f != nil {
		defer sr.c.store.flights.leave(h, f)
	} else {
		sr.c.m.Overflow.WithLabelValues("inflight").Inc()
	}
	if f == nil {
		f = newFlight() // untracked: nobody follows it
	}
	return sr.fetch(i, key, f, probe)
}

// stored returns piece i from the store if it is fresh enough for the
// request.
func (sr *sliceReq) stored(h uint64, key string, i int64) *piece {
	o := sr.c.store.lookup(h, []byte(key))
	if o == nil || o.Marker || o.HitForMiss || o.Status != http.StatusPartialContent {
		return nil
	}
	if len(sr.r.Header["Authorization"]) > 0 && !o.AuthOK {
		return nil
	}
	if ok, swr := o.usable(sr.rd, time.Now().UnixNano()); !ok || swr {
		return nil
	}
	p := pieceOf(o, nil)
	if p == nil || p.start != i*sr.ru.Slice {
		return nil
	}
	p.cached = true
	return p
}

// pieceOf reads a piece's place from its Content-Range; nil if it has
// none that is whole and specific.
func pieceOf(o *Object, body []byte) *piece {
	first, last, total, ok := parseContentRange(o.get("Content-Range"))
	if !ok {
		return nil
	}
	return &piece{o: o, body: body, start: first, n: last - first + 1, total: total}
}

// parseContentRange parses "bytes first-last/complete" (RFC 9110 14.4).
func parseContentRange(v string) (first, last, total int64, ok bool) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, length, ok := strings.Cut(spec, "/")
	a, b, ok2 := strings.Cut(rng, "-")
	if !ok || !ok2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(length, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || total <= last {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// unsatisfiedLength reads the length of a 416's "bytes */complete".
func unsatisfiedLength(v string) (int64, bool) {
	s, ok := strings.CutPrefix(v, "bytes */")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// follow waits, as fill followers do, for another request's fetch of
// the same piece; nil when it cannot be shared or failed.
func (sr *sliceReq) follow(f *flight, i int64) *piece {
	ctx := sr.r.Context()
	t := time.NewTimer(sr.c.lockTimeout)
	defer t.Stop()
	select {
	case <-f.ready:
	case <-t.C:
		return nil
	case <-ctx.Done():
		return nil
	}
	if f.kind != flightStream {
		return nil
	}
	idle := time.NewTimer(sr.c.fillTimeout)
	defer idle.Stop()
	for {
		p, done, broken, more := f.read(0)
		if done {
			if broken {
				return nil
			}
			pc := pieceOf(f.obj, p)
			if pc == nil || pc.start != i*sr.ru.Slice || pc.n != int64(len(p)) {
				return nil
			}
			return pc
		}
		select {
		case <-more:
		case <-idle.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// fetch asks the origin for piece i, sharing it with the followers of f.
func (sr *sliceReq) fetch(i int64, key string, f *flight, probe bool) (p *piece, handled bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			f.abandon()
			panic(v)
		}
	}()
	size := sr.ru.Slice
	start := i * size
	ctx, cancel := context.WithTimeout(context.WithoutCancel(sr.r.Context()), sr.c.fillTimeout)
	defer cancel()
	out := sr.r.Clone(ctx)
	for _, k := range sliceRequestDropped {
		delete(out.Header, k)
	}
	out.Method = http.MethodGet
	out.Header["Range"] = []string{"bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+size-1, 10)}
	sf := &sliceFill{sr: sr, f: f, key: key, start: start, probe: probe, hdr: http.Header{}, reqTime: time.Now(),
		purgeSeqStart: sr.c.store.purgeSeq.Load()}
	err = sr.next.ServeHTTP(sf, out)
	return sf.end(err)
}

// sliceFill is the writer of one slice fetch: it checks that the origin
// answered the range asked, keeps the bytes (shared with followers) and
// stores the piece. A probe the origin answers with anything but a 206
// or a 416 (a 200 that ignores Range, a 404...) is handed to an ordinary
// fill, which answers the client and stores the whole object as usual.
type sliceFill struct {
	sr            *sliceReq
	f             *flight
	key           string
	start         int64
	probe         bool
	hdr           http.Header
	reqTime       time.Time
	purgeSeqStart uint64

	code  int
	obj   *Object // the piece's header and validators
	store bool
	total int64
	want  int64 // bytes the piece must have
	n     int64
	whole *fill // the origin did not answer the range: an ordinary fill
	bad   error // the answer cannot be used as this piece
}

func (sf *sliceFill) Header() http.Header { return sf.hdr }

// Unwrap lets pipeline.From and http.ResponseController reach the client.
func (sf *sliceFill) Unwrap() http.ResponseWriter { return sf.sr.w }

func (sf *sliceFill) Flush() {
	if sf.whole != nil {
		sf.whole.Flush()
	}
}

func (sf *sliceFill) WriteHeader(code int) {
	if sf.whole != nil {
		sf.whole.WriteHeader(code)
		return
	}
	if code < 200 || sf.code != 0 {
		return // interim responses of a slice are not forwarded
	}
	sf.code = code
	switch total, ok := unsatisfiedLength(sf.hdr.Get("Content-Range")); {
	case code == http.StatusPartialContent:
		sf.partial()
	case code == http.StatusRequestedRangeNotSatisfiable && ok:
		// Past the end: the length is all this piece tells.
		sf.total = total
		sf.obj = &Object{Status: code, Header: storedHeader(sf.hdr, nil, false), ETag: sf.hdr.Get("Etag"),
			LastMod: sf.hdr.Get("Last-Modified"), SWR: -1, SIE: -1}
		sf.f.publish(flightNoShare, nil)
	case sf.probe:
		sr := sf.sr
		sf.f.publish(flightNoShare, nil)
		sf.whole = sr.c.newFill(sr.w, sr.r, sr.ru, sr.rd, newFlight(), sr.primary, sr.urlLen, hashKey(sr.primary), nil)
		sf.whole.hdr = sf.hdr
		sf.whole.reqTime = sf.reqTime
		sf.whole.WriteHeader(code)
	default:
		sf.fail("the origin answered a slice request with status " + strconv.Itoa(code))
	}
}

// partial checks a 206 against the range asked and decides whether the
// piece is stored: it must be storable as a 200 would be, carry a
// validator to compare with the other pieces, and not vary.
func (sf *sliceFill) partial() {
	sr := sf.sr
	size := sr.ru.Slice
	first, last, total, ok := parseContentRange(sf.hdr.Get("Content-Range"))
	want := min(sf.start+size, total) - sf.start
	switch {
	case !ok || first != sf.start || last != sf.start+want-1:
		sf.fail("the origin answered a slice request with another range (" + sf.hdr.Get("Content-Range") + ")")
		return
	case (total-1)/size >= MaxSlices:
		sr.c.m.Overflow.WithLabelValues("slices").Inc()
		sr.c.store.log.Warn("cache: object has too many slices", "url", sr.primary[:sr.urlLen], "length", total,
			"limit", MaxSlices)
		sf.fail("the object has more than " + strconv.Itoa(MaxSlices) + " slices: raise the route's cache.slice")
		return
	}
	sf.total, sf.want = total, want
	a := analyze(http.StatusOK, sf.hdr, sr.rd, len(sr.r.Header["Authorization"]) > 0, sr.ru, sf.reqTime, time.Now())
	o := a.obj
	sf.store = o != nil && len(sf.hdr["Vary"]) == 0 && (o.LastMod != "" || (o.ETag != "" && !strings.HasPrefix(o.ETag, "W/")))
	if o == nil {
		o = &Object{Header: storedHeader(sf.hdr, nil, false), ETag: sf.hdr.Get("Etag"),
			LastMod: sf.hdr.Get("Last-Modified"), SWR: -1, SIE: -1}
	}
	o.Status = http.StatusPartialContent
	sf.obj = o
	if sf.store {
		sf.f.publish(flightStream, o)
	} else {
		sf.f.publish(flightNoShare, nil)
	}
}

// fail rejects the origin's answer as this piece.
func (sf *sliceFill) fail(why string) {
	sf.bad = pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_slice", why, nil)
	sf.f.err = sf.bad
	sf.f.publish(flightFailed, nil)
}

func (sf *sliceFill) Write(p []byte) (int, error) {
	if sf.whole != nil {
		return sf.whole.Write(p)
	}
	if sf.code == 0 {
		sf.WriteHeader(http.StatusOK)
	}
	if sf.bad != nil {
		return 0, sf.bad
	}
	if sf.code == http.StatusRequestedRangeNotSatisfiable {
		return len(p), nil // the 416's own page says nothing this answer uses
	}
	if sf.n+int64(len(p)) > sf.want {
		sf.bad = pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_slice",
			"the origin sent more than the range it announced", nil)
		return 0, sf.bad
	}
	sf.f.append(p)
	sf.n += int64(len(p))
	return len(p), nil
}

// end finishes the fetch after the origin exchange returned err.
func (sf *sliceFill) end(err error) (*piece, bool, error) {
	if sf.whole != nil {
		return nil, true, sf.whole.end(err)
	}
	if sf.code == 0 {
		if err == nil {
			err = pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_slice", "the origin sent no answer", nil)
		}
		sf.f.err = err
		sf.f.publish(flightFailed, nil)
		return nil, false, err
	}
	if sf.bad != nil {
		err = sf.bad
	} else if err == nil && sf.n != sf.want {
		err = pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_slice", "the origin cut a slice short", nil)
	}
	if err != nil {
		sf.f.finish(true)
		sf.sr.ru.site.fillErrors.Inc()
		return nil, false, err
	}
	sf.f.finish(false)
	body, _, _, _ := sf.f.read(0)
	body = body[:sf.n:sf.n]
	if body == nil {
		body = []byte{}
	}
	if sf.code == http.StatusRequestedRangeNotSatisfiable {
		return &piece{o: sf.obj, body: []byte{}, start: sf.start, total: sf.total}, false, nil
	}
	if sf.store {
		sf.storePiece(body)
	}
	return &piece{o: sf.obj, body: body, start: sf.start, n: sf.n, total: sf.total}, false, nil
}

// storePiece stores the piece under its own key, with the object's URL
// and tags so purges reach it.
func (sf *sliceFill) storePiece(body []byte) {
	sr := sf.sr
	o := sf.obj.clone() // followers may still read the published one
	o.Body = body
	if o.Body == nil {
		o.Body = []byte{}
	}
	o.setLength(sf.n)
	o.Tags = parseTags(o.Header)
	o.URL = sr.primary[:sr.urlLen]
	o.Key = sf.key
	if sr.c.store.purgeSeq.Load() != sf.purgeSeqStart {
		o.invalidAt.Store(time.Now().UnixNano())
	}
	sr.c.store.put(hashKey(sf.key), o)
}

// dropSlices removes the pieces of the object under primary, given its
// length (every piece's key is known from it).
func (c *Cache) dropSlices(primary string, size, total int64) {
	n := min((total+size-1)/size, MaxSlices)
	for i := int64(0); i < n; i++ {
		c.store.remove(hashKey(sliceKey(primary, i)))
	}
}

// dropSlicesOf removes the pieces of the object under primary, whose
// length the first piece tells; without it, the others are left to
// expire (they cannot be combined with a piece of another version).
func (c *Cache) dropSlicesOf(primary string, size int64) {
	key := sliceKey(primary, 0)
	o := c.store.lookup(hashKey(key), []byte(key))
	if o == nil {
		return
	}
	if p := pieceOf(o, nil); p != nil {
		c.dropSlices(primary, size, p.total)
	}
}

var _ http.ResponseWriter = (*sliceFill)(nil)
var _ http.Flusher = (*sliceFill)(nil)
