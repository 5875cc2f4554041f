package cache

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Encoder is what the compression phase, which runs outside the cache,
// offers the cache through the response writer it hands inward: the
// coding it negotiated with this client and the encoders for stored
// copies. The cache keeps the encoded variants it makes as objects of
// their own (so one byte bound counts them, both tiers hold them and a
// purge drops them), keyed by the identity object's key, the coding and
// the identity's version.
type Encoder interface {
	// CacheCoding returns the content coding to answer this client in for
	// a stored response with these fields, or "" to send it as stored.
	CacheCoding(status int, contentType, contentEncoding string, cacheControl []string, size int64) string
	// CacheServed tells the compression phase that the cache is sending a
	// stored variant in coding: it passes the bytes through.
	CacheServed(coding string)
	// StoredEncoder returns an encoder for coding at the level used for
	// stored copies (higher than on the fly: it runs once per object).
	StoredEncoder(coding string, w io.Writer) (io.WriteCloser, error)
}

// Bounds of the background encoding of stored variants.
const (
	// maxEncodePending bounds the variants waiting to be made; past it a
	// hit is answered on the fly without queueing one (counted in
	// levee_cache_overflow_total{what="encode_queue"}).
	maxEncodePending = 64
	// encodeWorkers: variants are made one at a time per worker, so
	// making them never takes more than this many cores from hits.
	encodeWorkers = 1
	// maxVariantSource: larger objects are sent identity-encoded from the
	// cache and encoded on the fly, as the variant is built in memory.
	maxVariantSource = 32 << 20
)

// encoding is the store's background maker of encoded variants.
type encoding struct {
	mu      sync.Mutex
	pending map[uint64]bool
	slots   chan struct{}
	warned  atomic.Bool
	count   *prometheus.CounterVec // result
}

func (s *Store) encoder() *encoding {
	s.encOnce.Do(func() {
		s.enc = &encoding{pending: map[uint64]bool{}, slots: make(chan struct{}, encodeWorkers),
			count: s.m.Encoded}
	})
	return s.enc
}

// findEncoder returns the Encoder on w's chain of wrappers, or nil.
func findEncoder(w http.ResponseWriter) Encoder {
	for range 8 {
		if e, ok := w.(Encoder); ok {
			return e
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// serveHit answers a hit from o, or from o's encoded variant in the coding
// the client gets when one is stored; when none is, it answers from o
// (encoded on the fly outside) and has the variant made in the
// background for the next hits.
func (c *Cache) serveHit(w http.ResponseWriter, r *http.Request, o *Object, cs []string, now int64) error {
	e := findEncoder(w)
	if e == nil || o.Status != http.StatusOK {
		return c.serve(w, r, o, cs, now)
	}
	coding := e.CacheCoding(o.Status, o.get("Content-Type"), o.get("Content-Encoding"), o.values("Cache-Control"), o.Size)
	if coding == "" || weakMatchesIdentity(r, o) {
		return c.serve(w, r, o, cs, now)
	}
	ref := o.variantRef(coding)
	vk, h := ref.key, ref.hash
	v := c.store.lookup(h, ref.keyBytes)
	if v != nil && v.mb != nil {
		if !v.mb.acquire() {
			v = nil
		} else {
			defer v.mb.release()
		}
	}
	if v == nil {
		c.store.makeVariant(o, coding, vk, h, e)
		return c.serve(w, r, o, cs, now)
	}
	c.m.encodedHit.Inc()
	e.CacheServed(coding)
	err := c.serve(w, r, v, cs, now)
	if err == errDiskGone {
		c.store.remove(h)
		return c.serve(w, r, o, cs, now)
	}
	return err
}

// variantAtFill has the encoded variant of a freshly stored o made in the
// background (bounded as on a hit) in the coding the filling client gets,
// so the first hit after a fill is already answered from it.
func (c *Cache) variantAtFill(w http.ResponseWriter, o *Object) {
	e := findEncoder(w)
	if e == nil || o.Status != http.StatusOK || o.invalidAt.Load() != 0 {
		return // a fill a purge overtook is kept only as stale
	}
	coding := e.CacheCoding(o.Status, o.get("Content-Type"), o.get("Content-Encoding"), o.values("Cache-Control"), o.Size)
	if coding == "" {
		return
	}
	ref := o.variantRef(coding) // kept on o: the first hit builds no key either
	c.store.makeVariant(o, coding, ref.key, ref.hash, e)
}

// weakMatchesIdentity: a client holding a copy encoded on the fly has the
// identity's entity-tag made weak, which names content equivalent to the
// variant's; its If-None-Match is answered by the identity's 304.
func weakMatchesIdentity(r *http.Request, o *Object) bool {
	inm := r.Header["If-None-Match"]
	return len(inm) > 0 && o.ETag != "" && etagMatch(inm, o.ETag, true)
}

// variantKey names o's variant in coding. The identity's response time is
// part of it: a refill or a revalidation makes a new identity object,
// whose variants are made afresh (their fields and age follow it), and
// the old ones are never found again.
func variantKey(o *Object, coding string) string {
	return o.Key + "\x00ce=" + coding + "\x00" + strconv.FormatInt(o.RespTime, 36)
}

// variantRef is the key of an identity object's variant in one coding,
// made at the first hit that asks for that coding and kept on the object:
// a hit then builds no key string, no byte copy and no hash.
type variantRef struct {
	coding   string
	key      string
	keyBytes []byte
	hash     uint64
}

// maxVariantRefs bounds the codings whose keys an object keeps; a coding
// past it (there are three today) has its key made at each hit.
const maxVariantRefs = 4

// variantRef returns o's variant key in coding. The list is copied on
// write and published with a compare-and-swap: two hits racing to add a
// coding both make its key, one of them is kept, and either is correct.
func (o *Object) variantRef(coding string) *variantRef {
	p := o.variants.Load()
	if p != nil {
		for i := range *p {
			if (*p)[i].coding == coding {
				return &(*p)[i]
			}
		}
	}
	vk := variantKey(o, coding)
	ref := variantRef{coding: coding, key: vk, keyBytes: []byte(vk), hash: hashKey(vk)}
	var refs []variantRef
	if p != nil {
		if len(*p) >= maxVariantRefs {
			return &ref
		}
		refs = append(refs, *p...)
	}
	refs = append(refs, ref)
	o.variants.CompareAndSwap(p, &refs)
	return &refs[len(refs)-1]
}

// makeVariant queues the making of o's variant in coding, at most once
// per variant and within maxEncodePending.
func (s *Store) makeVariant(o *Object, coding, vk string, h uint64, e Encoder) {
	enc := s.encoder()
	if o.Size > maxVariantSource {
		return
	}
	enc.mu.Lock()
	if enc.pending[h] {
		enc.mu.Unlock()
		return
	}
	if len(enc.pending) >= maxEncodePending {
		enc.mu.Unlock()
		s.m.Overflow.WithLabelValues("encode_queue").Inc()
		if !enc.warned.Swap(true) {
			s.log.Warn("cache: too many encoded variants waiting to be made; hits are encoded on the fly meanwhile",
				"bound", maxEncodePending)
		}
		return
	}
	enc.pending[h] = true
	enc.mu.Unlock()
	if o.mb != nil && !o.mb.acquire() {
		enc.done(h)
		return
	}
	seq := s.purgeSeq.Load()
	s.goFn("cache-encode", func() {
		defer enc.done(h)
		if o.mb != nil {
			defer o.mb.release()
		}
		enc.slots <- struct{}{}
		defer func() { <-enc.slots }()
		v, err := s.encodeVariant(o, coding, vk, e)
		if err != nil {
			enc.count.WithLabelValues("failed").Inc()
			s.log.Warn("cache: could not make an encoded variant; hits are encoded on the fly", "url", o.URL,
				"encoding", coding, "error", err)
			return
		}
		if s.purgeSeq.Load() != seq {
			// A purge ran while encoding: the identity may be gone.
			return
		}
		s.put(h, v)
		enc.count.WithLabelValues("stored").Inc()
	})
}

func (enc *encoding) done(h uint64) {
	enc.mu.Lock()
	delete(enc.pending, h)
	enc.mu.Unlock()
}

// encodeVariant encodes o's body into a new object: o's fields with
// Content-Encoding, Content-Length, Vary: Accept-Encoding, and a strong
// ETag suffixed with the coding (the bytes differ from the identity's,
// and are the same at every hit, so Range and If-Range work on them).
func (s *Store) encodeVariant(o *Object, coding, vk string, e Encoder) (*Object, error) {
	src, closeSrc, err := s.bodyOf(o)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	var out bytes.Buffer
	out.Grow(int(o.Size / 2))
	zw, err := e.StoredEncoder(coding, &out)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(zw, io.LimitReader(src, o.Size)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	v := o.clone()
	v.Key, v.mb, v.Body, v.Size = vk, nil, out.Bytes(), int64(out.Len())
	h := v.Header
	h["Content-Encoding"] = []string{coding}
	h["Content-Length"] = []string{strconv.Itoa(out.Len())}
	if !varies(h["Vary"], "Accept-Encoding") {
		h["Vary"] = append(append([]string(nil), h["Vary"]...), "Accept-Encoding")
	}
	if o.ETag != "" {
		v.ETag = suffixETag(o.ETag, coding)
		h["Etag"] = []string{v.ETag}
	}
	return v, nil
}

// bodyOf opens o's body wherever it lives.
func (s *Store) bodyOf(o *Object) (io.Reader, func(), error) {
	switch {
	case o.Body != nil:
		return bytes.NewReader(o.Body), func() {}, nil
	case o.mb != nil:
		return o.mb.reader(0, o.Size), func() {}, nil
	case s.disk != nil:
		f, err := s.disk.openBody(hashKey(o.Key), o.Size)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { _ = f.Close() }, nil
	}
	return nil, nil, errDiskGone
}

// suffixETag makes the variant's entity-tag: "abc" becomes "abc-br".
func suffixETag(etag, coding string) string {
	if !strings.HasSuffix(etag, `"`) || len(etag) < 2 {
		return etag
	}
	return etag[:len(etag)-1] + "-" + coding + `"`
}

func varies(values []string, name string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return true
			}
		}
	}
	return false
}
