package cache

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func memfdStore(t *testing.T, mem int64) *Store {
	t.Helper()
	st, err := NewStore(Options{MemoryBytes: mem, Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func bigObject(key string, size int) *Object {
	body := bytes.Repeat([]byte{byte(len(key))}, size)
	for i := range body {
		body[i] += byte(i * 31)
	}
	return &Object{Key: key, Status: 200, Body: body, Size: int64(size), Header: http.Header{}, SWR: -1, SIE: -1}
}

// An eviction while a request holds a memfd body leaves it readable; the
// memfd closes when that request lets go, not before.
func TestMemfdEvictionWhileServing(t *testing.T) {
	st := memfdStore(t, 4<<20)
	o := bigObject("a", 256<<10)
	want := append([]byte(nil), o.Body...)
	st.put(1, o)
	got := st.lookup(1, []byte("a"))
	if got == nil || got.mb == nil || got.Body != nil {
		t.Fatalf("a 256 KiB object is not in a memfd: %+v", got)
	}
	b := got.mb
	if !b.acquire() { // a request serving it
		t.Fatal("acquire")
	}
	f, err := os.Open(b.path)
	if err != nil {
		t.Fatal(err)
	}
	st.SetMemory(1) // evicts everything
	if st.lookup(1, []byte("a")) != nil {
		t.Fatal("object still in the memory tier")
	}
	if n := b.refs.Load(); n != 1 {
		t.Fatalf("refs %d after eviction, want the request's 1", n)
	}
	body, err := io.ReadAll(io.LimitReader(f, b.size))
	f.Close()
	if err != nil || !bytes.Equal(body, want) {
		t.Fatalf("body read after eviction: %v, equal %v", err, bytes.Equal(body, want))
	}
	b.release()
	if _, err := b.f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("memfd not closed after the last reference: %v", err)
	}
	if b.acquire() {
		t.Fatal("acquired a closed memfd")
	}
}

// A replaced object's memfd closes; a revalidated copy sharing it keeps
// it open; small bodies stay on the heap.
func TestMemfdReplaceAndShare(t *testing.T) {
	st := memfdStore(t, 8<<20)
	small := bigObject("s", MemfdMin-1)
	st.put(2, small)
	if small.mb != nil || small.Body == nil {
		t.Fatal("a body under MemfdMin went to a memfd")
	}
	old := bigObject("a", 64<<10)
	st.put(1, old)
	b := old.mb
	merged := &Object{Key: "a", Status: 200, Header: http.Header{}, Body: old.Body, mb: old.mb, Size: old.Size}
	st.put(1, merged) // as merge does after a 304
	if n := b.refs.Load(); n != 1 {
		t.Fatalf("refs %d after replacing by a copy sharing the memfd, want 1", n)
	}
	st.put(1, bigObject("a", 64<<10)) // a new body
	if _, err := b.f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("replaced memfd still open: %v", err)
	}
	// A copy made from an object whose memfd is gone is not stored with it.
	late := &Object{Key: "a", Status: 200, Header: http.Header{}, mb: b, Size: b.size}
	st.put(3, late)
	if late.mb != nil || st.lookup(3, []byte("a")) != nil {
		t.Fatal("an object with a closed memfd was stored in memory")
	}
}

// When a memfd cannot be made, the body stays on the heap, is served, and
// the failure is counted; never an error for the request.
func TestMemfdFailureFallsBackToHeap(t *testing.T) {
	st := memfdStore(t, 8<<20)
	saved := memfdCreate
	memfdCreate = func(string, int) (int, error) { return -1, errors.New("EMFILE") }
	defer func() { memfdCreate = saved }()
	o := bigObject("a", 64<<10)
	want := append([]byte(nil), o.Body...)
	st.put(1, o)
	if got := st.lookup(1, []byte("a")); o.mb != nil || o.Body == nil || got == nil || got.mb != nil ||
		!bytes.Equal(got.Body, want) {
		t.Fatal("heap fallback not stored")
	}
	if got := telemetryValue(st.m.MemfdErrors); got != 1 {
		t.Fatalf("memfd errors %v, want 1", got)
	}
	c := New(st, Settings{})
	rec := httptest.NewRecorder()
	if err := c.serve(rec, httptest.NewRequest("GET", "/", nil), o, csHit, o.RespTime); err != nil ||
		rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("heap fallback served %d, %d bytes, %v", rec.Code, rec.Body.Len(), err)
	}
}

// Connections that cannot use sendfile (HTTP/2, TLS) get a memfd body
// with pread, ranges included.
func TestMemfdWithoutSendfile(t *testing.T) {
	st := memfdStore(t, 8<<20)
	o := bigObject("a", 100<<10)
	want := append([]byte(nil), o.Body...)
	st.put(1, o)
	if o.mb == nil {
		t.Fatal("not in a memfd")
	}
	c := New(st, Settings{})
	for _, rng := range []string{"", "bytes=1000-1999"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.ProtoMajor, req.Proto = 2, "HTTP/2.0"
		w, start, end := want, 0, len(want)
		if rng != "" {
			req.Header.Set("Range", rng)
			start, end = 1000, 2000
		}
		rec := httptest.NewRecorder()
		if err := c.serve(rec, req, o, csHit, o.RespTime); err != nil || !bytes.Equal(rec.Body.Bytes(), w[start:end]) {
			t.Fatalf("range %q: %d, %d bytes, %v", rng, rec.Code, rec.Body.Len(), err)
		}
	}
	if n := o.mb.refs.Load(); n != 1 {
		t.Fatalf("refs %d after serving, want the tier's 1", n)
	}
}

// serveRange serves o over plain HTTP/1 with the Range rng (none, bytes=5000-5099
// or bytes=-7) and checks the bytes against want.
func serveRange(t *testing.T, c *Cache, o *Object, want []byte, rng string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	start, end := 0, len(want)
	switch rng {
	case "bytes=5000-5099":
		start, end = 5000, 5100
	case "bytes=-7":
		start = len(want) - 7
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	rec := httptest.NewRecorder()
	if err := c.serve(rec, req, o, csHit, o.RespTime); err != nil || !bytes.Equal(rec.Body.Bytes(), want[start:end]) {
		t.Fatalf("%q: %d, %d bytes, %v", rng, rec.Code, rec.Body.Len(), err)
	}
}

// Plain HTTP/1 hits are written from the memfd's mapping, ranges
// included, and open no description of it; the mapping goes with the
// last reference.
func TestMemfdServedFromMapping(t *testing.T) {
	st := memfdStore(t, 8<<20)
	base := mappedBodies.Load()
	o := bigObject("a", 100<<10)
	want := append([]byte(nil), o.Body...)
	st.put(1, o)
	b := o.mb
	if b == nil || len(b.data) != len(want) || mappedBodies.Load() != base+1 {
		t.Fatalf("not mapped: %+v (mapped bodies %d, want %d)", b, mappedBodies.Load(), base+1)
	}
	c := New(st, Settings{})
	for _, rng := range []string{"", "bytes=5000-5099", "bytes=-7"} {
		serveRange(t, c, o, want, rng)
	}
	if len(b.idle) != 0 {
		t.Fatalf("%d descriptions opened for a mapped body", len(b.idle))
	}
	if !b.acquire() { // a request still writing it
		t.Fatal("acquire")
	}
	st.remove(1)
	if b.data == nil || mappedBodies.Load() != base+1 {
		t.Fatal("unmapped under a request's reference")
	}
	b.release()
	if b.data != nil || mappedBodies.Load() != base {
		t.Fatalf("mapping kept after the last reference (mapped bodies %d, want %d)", mappedBodies.Load(), base)
	}
}

// Past maxMappedBodies a body is not mapped: it is counted, logged once,
// and plain HTTP/1 hits send it with sendfile from an idle description of
// the memfd (seeked to each request's start); the idle ones are closed
// with the memfd.
func TestMemfdUnmappedBodyUsesDescriptions(t *testing.T) {
	st := memfdStore(t, 8<<20)
	saved := mappedBodies.Swap(maxMappedBodies)
	defer mappedBodies.Store(saved)
	o := bigObject("a", 100<<10)
	want := append([]byte(nil), o.Body...)
	st.put(1, o)
	if o.mb == nil || o.mb.data != nil || !errors.Is(o.mb.mapErr, errMapsFull) {
		t.Fatalf("a body past the table's bound was mapped: %+v", o.mb)
	}
	if got := telemetryValue(st.m.Overflow.WithLabelValues("memfd_map")); got != 1 {
		t.Fatalf("memfd_map overflows %v, want 1", got)
	}
	c := New(st, Settings{})
	base := idleDescs.Load()
	for i, rng := range []string{"", "bytes=5000-5099", "", "bytes=-7"} {
		serveRange(t, c, o, want, rng)
		if len(o.mb.idle) != 1 || idleDescs.Load() != base+1 {
			t.Fatalf("request %d: %d idle descriptions, want 1 reused", i, len(o.mb.idle))
		}
	}
	idle := o.mb.idle[0]
	st.remove(1)
	if _, err := idle.Stat(); !errors.Is(err, os.ErrClosed) || idleDescs.Load() != base {
		t.Fatalf("idle description not closed with its memfd: %v", err)
	}
}

// A system without memfds (ENOSYS; every system but Linux) is asked once:
// the next large body goes to the heap without another attempt, counted
// once.
func TestMemfdUnsupportedIsNotAskedAgain(t *testing.T) {
	st := memfdStore(t, 8<<20)
	saved := memfdCreate
	calls := 0
	memfdCreate = func(string, int) (int, error) { calls++; return -1, syscall.ENOSYS }
	defer func() { memfdCreate = saved }()
	for i, key := range []string{"a", "b"} {
		o := bigObject(key, 64<<10)
		st.put(uint64(i+1), o)
		if o.mb != nil || o.Body == nil {
			t.Fatalf("%s: not kept on the heap", key)
		}
	}
	if calls != 1 || telemetryValue(st.m.MemfdErrors) != 1 {
		t.Fatalf("memfd_create called %d times, errors counted %v; want 1 and 1", calls, telemetryValue(st.m.MemfdErrors))
	}
}
