package cache_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// rangeOrigin is a raw HTTP/1.1 origin that answers single byte ranges
// as RFC 9110 14 describes (206 with Content-Range, 416 with
// "bytes */length"), or ignores Range when told to, and records the
// Range of every request it gets.
type rangeOrigin struct {
	ln   net.Listener
	mu   sync.Mutex
	body []byte
	etag string
	// ignoreRange: answer every GET with the whole 200 (RFC 9110 14.2: a
	// server MAY ignore Range).
	ignoreRange bool
	// partialAlways: answer bytes 0-9 as a 206 even without Range (a
	// misbehaving origin).
	partialAlways bool
	// cutAt, when above 0, closes the connection after that many body
	// bytes of a range starting at cutAt's slice (an origin dying
	// mid-answer).
	cutAt int64
	// hold, when set, runs before the answer to a range starting at start.
	hold   func(start int64)
	ranges []string // each request's "METHOD Range"
	hits   atomic.Int64
}

func newRangeOrigin(t testing.TB, body []byte, etag string) *rangeOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rangeOrigin{ln: ln, body: body, etag: etag}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); o.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return o
}

func (o *rangeOrigin) URL() string { return "http://" + o.ln.Addr().String() }

// set changes the representation: a new version.
func (o *rangeOrigin) set(body []byte, etag string) {
	o.mu.Lock()
	o.body, o.etag = body, etag
	o.mu.Unlock()
}

func (o *rangeOrigin) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ranges...)
}

func (o *rangeOrigin) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		tp := textproto.NewReader(br)
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			return
		}
		method, _, _ := strings.Cut(line, " ")
		o.hits.Add(1)
		o.mu.Lock()
		body, etag, ignore, hold, always, cutAt := o.body, o.etag, o.ignoreRange, o.hold, o.partialAlways, o.cutAt
		o.ranges = append(o.ranges, method+" "+hdr.Get("Range"))
		o.mu.Unlock()
		status, part, cr := 200, body, ""
		rg := hdr.Get("Range")
		if always && rg == "" {
			rg = "bytes=0-9"
		}
		if rg != "" && !ignore {
			first, last, ok := rfcRange(rg, int64(len(body)))
			if ok {
				if hold != nil {
					hold(first)
				}
				status, part = 206, body[first:last+1]
				cr = fmt.Sprintf("bytes %d-%d/%d", first, last, len(body))
			} else {
				// With a page of its own, as many servers send.
				status, part, cr = 416, []byte("range not satisfiable\n"), fmt.Sprintf("bytes */%d", len(body))
			}
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/octet-stream\r\nCache-Control: public, max-age=600\r\n", status, http.StatusText(status))
		fmt.Fprintf(&b, "ETag: %s\r\nAccept-Ranges: bytes\r\nContent-Length: %d\r\n", etag, len(part))
		if cr != "" {
			fmt.Fprintf(&b, "Content-Range: %s\r\n", cr)
		}
		b.WriteString("\r\n")
		if method != "HEAD" {
			if cutAt > 0 && status == 206 && strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", cutAt/1024*1024)) {
				b.Write(part[:len(part)/2])
				c.Write(b.Bytes())
				return
			}
			b.Write(part)
		}
		if _, err := c.Write(b.Bytes()); err != nil {
			return
		}
	}
}

// rfcRange reads a single byte-range-spec or suffix-range (RFC 9110
// 14.1.2) against a representation of n bytes; ok false: unsatisfiable.
func rfcRange(v string, n int64) (first, last int64, ok bool) {
	spec := strings.TrimPrefix(v, "bytes=")
	a, b, _ := strings.Cut(spec, "-")
	if a == "" {
		suffix, _ := strconv.ParseInt(b, 10, 64)
		if suffix <= 0 || n == 0 {
			return 0, 0, false
		}
		return max(n-suffix, 0), n - 1, true
	}
	first, _ = strconv.ParseInt(a, 10, 64)
	last = n - 1
	if b != "" {
		last, _ = strconv.ParseInt(b, 10, 64)
	}
	if first >= n {
		return 0, 0, false
	}
	return first, min(last, n-1), true
}

// versionBody is n bytes that differ from another version's at every
// offset, so a mix of two versions cannot pass for either.
func versionBody(n, version int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7 + version*13) % 251)
	}
	return b
}

const sliceLen = 5000 // five 1 KiB slices, the last of 904 bytes

func sliceRoute() string { return "{slice: 1KiB}" }

// alignedSlice is the Range levee must ask for slice i of 1 KiB.
func alignedSlice(i int) string { return fmt.Sprintf("GET bytes=%d-%d", i*1024, i*1024+1023) }

// RFC 9110 14.1.2, 14.4, 15.3.7, 15.5.17 against slices: every answer is
// byte-exact, each slice is fetched once with an aligned range, and the
// origin never sees a request for the whole object.
func TestSliceRanges(t *testing.T) {
	body := versionBody(sliceLen, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	n := node(t, o.URL(), sliceRoute(), "")
	cases := []struct {
		name, rng string
		status    int
		from, to  int // the body expected: body[from:to]
		cr        string
	}{
		{"across a slice boundary", "bytes=1000-1100", 206, 1000, 1101, "bytes 1000-1100/5000"},
		{"first byte", "bytes=0-0", 206, 0, 1, "bytes 0-0/5000"},
		{"last byte", "bytes=4999-4999", 206, 4999, 5000, "bytes 4999-4999/5000"},
		{"suffix", "bytes=-500", 206, 4500, 5000, "bytes 4500-4999/5000"},
		{"open", "bytes=1000-", 206, 1000, 5000, "bytes 1000-4999/5000"},
		{"last past the end", "bytes=2040-99999", 206, 2040, 5000, "bytes 2040-4999/5000"},
		{"a whole slice", "bytes=1024-2047", 206, 1024, 2048, "bytes 1024-2047/5000"},
		{"unsatisfiable", "bytes=5000-", 416, 0, 0, "bytes */5000"},
		{"unsatisfiable far past the end", "bytes=90000-90001", 416, 0, 0, "bytes */5000"},
		{"no range", "", 200, 0, 5000, ""},
		{"several ranges get the whole object", "bytes=0-1,3-4", 200, 0, 5000, ""},
	}
	for _, tc := range cases {
		var hdrs []string
		if tc.rng != "" {
			hdrs = append(hdrs, "Range: "+tc.rng)
		}
		res, b, err := fetch(t, "GET", n.URL("/v.mp4"), hdrs...)
		if err != nil || res.StatusCode != tc.status {
			t.Fatalf("%s: status %d (%v), want %d", tc.name, res.StatusCode, err, tc.status)
		}
		if got := res.Header.Get("Content-Range"); got != tc.cr {
			t.Fatalf("%s: Content-Range %q, want %q", tc.name, got, tc.cr)
		}
		if tc.status != 416 && !bytes.Equal(b, body[tc.from:tc.to]) {
			t.Fatalf("%s: body of %d bytes is not bytes %d-%d", tc.name, len(b), tc.from, tc.to-1)
		}
		if cl := res.Header.Get("Content-Length"); tc.status != 416 && cl != strconv.Itoa(tc.to-tc.from) {
			t.Fatalf("%s: Content-Length %q", tc.name, cl)
		}
	}
	seen := o.seen()
	if len(seen) != 5 {
		t.Fatalf("origin saw %d requests %q, want one per slice (5)", len(seen), seen)
	}
	for _, s := range seen {
		ok := false
		for i := 0; i < 5; i++ {
			ok = ok || s == alignedSlice(i)
		}
		if !ok {
			t.Fatalf("origin saw %q, want only aligned 1 KiB ranges", s)
		}
	}
}

// A GET without Range assembles every slice in order; the next is a hit.
func TestSliceFullGet(t *testing.T) {
	body := versionBody(sliceLen, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	n := node(t, o.URL(), sliceRoute(), "")
	res, b, err := fetch(t, "GET", n.URL("/v.mp4"))
	if err != nil || res.StatusCode != 200 || !bytes.Equal(b, body) {
		t.Fatalf("status %d, %d bytes (%v), want the whole body", res.StatusCode, len(b), err)
	}
	if cs := res.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=miss") {
		t.Fatalf("Cache-Status %q", cs)
	}
	if got := strings.Join(o.seen(), ","); got != strings.Join([]string{alignedSlice(0), alignedSlice(1),
		alignedSlice(2), alignedSlice(3), alignedSlice(4)}, ",") {
		t.Fatalf("origin saw %s", got)
	}
	res, b, err = fetch(t, "GET", n.URL("/v.mp4"))
	if err != nil || res.StatusCode != 200 || !bytes.Equal(b, body) || o.hits.Load() != 5 {
		t.Fatalf("second GET: status %d, %d bytes, origin hits %d", res.StatusCode, len(b), o.hits.Load())
	}
	if cs := res.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") || res.Header.Get("Etag") != `"v1"` {
		t.Fatalf("second GET: Cache-Status %q, ETag %q", cs, res.Header.Get("Etag"))
	}
}

// A cold HEAD costs the origin one slice, not the whole body, and tells
// the whole length (RFC 9110 9.3.2: the same fields as a GET).
func TestSliceHead(t *testing.T) {
	o := newRangeOrigin(t, versionBody(sliceLen, 1), `"v1"`)
	n := node(t, o.URL(), sliceRoute(), "")
	res, b, err := fetch(t, "HEAD", n.URL("/v.mp4"))
	if err != nil || res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Length") != "5000" {
		t.Fatalf("HEAD: status %d, Content-Length %q, %d body bytes", res.StatusCode, res.Header.Get("Content-Length"), len(b))
	}
	if got := o.seen(); len(got) != 1 || got[0] != alignedSlice(0) {
		t.Fatalf("origin saw %q, want one slice", got)
	}
	res, _, _ = fetch(t, "HEAD", n.URL("/v.mp4"), "Range: bytes=10-20")
	if res.StatusCode != 206 || res.Header.Get("Content-Range") != "bytes 10-20/5000" || o.hits.Load() != 1 {
		t.Fatalf("ranged HEAD: %d %q, origin hits %d", res.StatusCode, res.Header.Get("Content-Range"), o.hits.Load())
	}
}

// RFC 9111 3.4: parts of two versions are never combined. A stored
// slice of the old version next to a fetched one of the new version is
// fetched again; when the answer already started from old slices, it is
// cut (never completed with new bytes) and every slice is dropped, so
// the next request gets the new version whole.
func TestSliceVersionChange(t *testing.T) {
	v1, v2 := versionBody(sliceLen, 1), versionBody(sliceLen, 2)
	t.Run("stored slice of the old version is fetched again", func(t *testing.T) {
		o := newRangeOrigin(t, v1, `"v1"`)
		n := node(t, o.URL(), sliceRoute(), "")
		if res, b, _ := fetch(t, "GET", n.URL("/v"), "Range: bytes=1024-1500"); res.StatusCode != 206 || !bytes.Equal(b, v1[1024:1501]) {
			t.Fatalf("warm slice 1: %d", res.StatusCode)
		}
		o.set(v2, `"v2"`)
		res, b, err := fetch(t, "GET", n.URL("/v"))
		if err != nil || res.StatusCode != 200 || !bytes.Equal(b, v2) || res.Header.Get("Etag") != `"v2"` {
			t.Fatalf("after the change: status %d, %d bytes, ETag %q (%v), want v2 whole", res.StatusCode, len(b), res.Header.Get("Etag"), err)
		}
		if o.hits.Load() != 1+5 {
			t.Fatalf("origin hits %d, want 6 (slice 1 of v1, then all five of v2)", o.hits.Load())
		}
	})
	t.Run("answer begun from old slices is cut, then the new version is whole", func(t *testing.T) {
		o := newRangeOrigin(t, v1, `"v1"`)
		n := node(t, o.URL(), sliceRoute(), "")
		if res, b, _ := fetch(t, "GET", n.URL("/v"), "Range: bytes=0-1500"); res.StatusCode != 206 || !bytes.Equal(b, v1[:1501]) {
			t.Fatalf("warm slices 0-1: %d", res.StatusCode)
		}
		o.set(v2, `"v2"`)
		// The cut may come before the header left levee's buffer (an
		// error at once) or after (a short body): either way no byte of v2.
		// A fresh connection: on a reused one the client itself would
		// retry the cut request (nothing was received) and get v2 whole.
		fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		res, err := fresh.Get(n.URL("/v"))
		if err == nil {
			b, rerr := io.ReadAll(res.Body)
			res.Body.Close()
			if rerr == nil || len(b) >= sliceLen || !bytes.Equal(b, v1[:len(b)]) {
				t.Fatalf("mixed answer: status %d, %d bytes, read error %v; want a cut prefix of v1", res.StatusCode, len(b), rerr)
			}
		}
		res, b, err := fetch(t, "GET", n.URL("/v"))
		if err != nil || res.StatusCode != 200 || !bytes.Equal(b, v2) {
			t.Fatalf("next request: status %d, %d bytes (%v), want v2 whole", res.StatusCode, len(b), err)
		}
	})
}

// RFC 9110 14.2: an origin may ignore Range and send 200. The first
// answer is then an ordinary fill: the client's range is cut from it and
// the whole object is stored, so nothing more reaches the origin.
func TestSliceOriginIgnoresRange(t *testing.T) {
	body := versionBody(sliceLen, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	o.ignoreRange = true
	n := node(t, o.URL(), sliceRoute(), "")
	res, b, err := fetch(t, "GET", n.URL("/v"), "Range: bytes=1000-1100")
	if err != nil || res.StatusCode != 206 || !bytes.Equal(b, body[1000:1101]) || res.Header.Get("Content-Range") != "bytes 1000-1100/5000" {
		t.Fatalf("status %d, Content-Range %q, %d bytes", res.StatusCode, res.Header.Get("Content-Range"), len(b))
	}
	for _, rg := range []string{"bytes=-10", "bytes=4000-"} {
		res, b, _ = fetch(t, "GET", n.URL("/v"), "Range: "+rg)
		first, last, _ := rfcRange(rg, sliceLen)
		if res.StatusCode != 206 || !bytes.Equal(b, body[first:last+1]) || !strings.Contains(res.Header.Get("Cache-Status"), "hit") {
			t.Fatalf("%s: status %d, Cache-Status %q", rg, res.StatusCode, res.Header.Get("Cache-Status"))
		}
	}
	res, b, _ = fetch(t, "GET", n.URL("/v"))
	if res.StatusCode != 200 || !bytes.Equal(b, body) || o.hits.Load() != 1 {
		t.Fatalf("whole: status %d, origin hits %d, want 1", res.StatusCode, o.hits.Load())
	}
}

// A purge by URL drops every slice of the object.
func TestSlicePurge(t *testing.T) {
	body := versionBody(sliceLen, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	n := node(t, o.URL(), sliceRoute(), "")
	fetch(t, "GET", n.URL("/v?q=1"))
	if o.hits.Load() != 5 {
		t.Fatalf("warm: origin hits %d", o.hits.Load())
	}
	if code, out := purge(t, n, `{"url": "/v?q=1"}`); code != 200 || out["purged"] != 5.0 {
		t.Fatalf("purge: %d %v, want 5 slices purged", code, out)
	}
	for _, rg := range []string{"bytes=0-10", "bytes=2000-2010", "bytes=-10"} {
		fetch(t, "GET", n.URL("/v?q=1"), "Range: "+rg)
	}
	if o.hits.Load() != 5+3 {
		t.Fatalf("after the purge: origin hits %d, want 8 (each slice asked again)", o.hits.Load())
	}
}

// An unsafe method invalidates the object's slices too (RFC 9111 4.4).
func TestSliceInvalidatedByPost(t *testing.T) {
	o := newRangeOrigin(t, versionBody(sliceLen, 1), `"v1"`)
	n := node(t, o.URL(), sliceRoute(), "")
	fetch(t, "GET", n.URL("/v"))
	fetch(t, "POST", n.URL("/v"))
	fetch(t, "GET", n.URL("/v"), "Range: bytes=3000-3001")
	if o.hits.Load() != 5+1+1 {
		t.Fatalf("origin hits %d, want 7: the POST dropped the slices", o.hits.Load())
	}
}

// Concurrent requests for the same cold slices share one origin request
// per slice.
func TestSliceCoalescing(t *testing.T) {
	const N = 20
	body := versionBody(sliceLen, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	var released [5]chan struct{}
	for i := range released {
		released[i] = make(chan struct{})
	}
	o.hold = func(start int64) {
		select {
		case <-released[start/1024]:
		case <-time.After(10 * time.Second):
		}
	}
	n := node(t, o.URL(), sliceRoute(), "{lock_timeout: 30s}")
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := leveetest.Client().Get(n.URL("/v"))
			if err != nil {
				t.Error(err)
				return
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil && bytes.Equal(b, body) {
				ok.Add(1)
			}
		}()
	}
	// Slice k is answered once every request waits on it: none can find
	// it stored before joining the fetch.
	for k := range released {
		deadline := time.Now().Add(10 * time.Second)
		for metric(n, "levee_cache_coalesced_total") < float64((k+1)*(N-1)) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		close(released[k])
	}
	wg.Wait()
	if ok.Load() != N || o.hits.Load() != 5 {
		t.Fatalf("%d whole bodies of %d, origin hits %d, want 5", ok.Load(), N, o.hits.Load())
	}
}

// Slices live in the disk tier like any object, and a restarted node
// serves them without the origin.
func TestSliceDiskTier(t *testing.T) {
	body := versionBody(sliceLen, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	dir := t.TempDir()
	top := fmt.Sprintf("{disk: {path: %q}}", dir)
	n := node(t, o.URL(), sliceRoute(), top)
	fetch(t, "GET", n.URL("/v"))
	if err := n.Shutdown(); err != nil { // drains the disk writer
		t.Fatal(err)
	}
	n2 := node(t, o.URL(), sliceRoute(), top)
	res, b, err := fetch(t, "GET", n2.URL("/v"), "Range: bytes=1000-3000")
	if err != nil || res.StatusCode != 206 || !bytes.Equal(b, body[1000:3001]) || o.hits.Load() != 5 {
		t.Fatalf("after restart: status %d, %d bytes, origin hits %d (want 5)", res.StatusCode, len(b), o.hits.Load())
	}
}

// Without slicing a 206 from the origin is passed through and never
// stored, least of all as the whole object (RFC 9111 3.3: a cache that
// does not combine partial content must not pass it off as complete).
func TestPartialNotStoredWithoutSlicing(t *testing.T) {
	body := versionBody(sliceLen, 1)
	t.Run("a range forwarded by a bypass", func(t *testing.T) {
		o := newRangeOrigin(t, body, `"v1"`)
		n := node(t, o.URL(), "{bypass: {headers: [X-Live]}}", "")
		res, b, _ := fetch(t, "GET", n.URL("/v"), "Range: bytes=100-199", "X-Live: 1")
		if res.StatusCode != 206 || !bytes.Equal(b, body[100:200]) || res.Header.Get("Content-Range") != "bytes 100-199/5000" {
			t.Fatalf("bypass: status %d, Content-Range %q", res.StatusCode, res.Header.Get("Content-Range"))
		}
		res, b, _ = fetch(t, "GET", n.URL("/v"))
		if res.StatusCode != 200 || !bytes.Equal(b, body) || o.hits.Load() != 2 {
			t.Fatalf("GET after the 206: status %d, %d bytes, origin hits %d (want 2: nothing stored from the 206)", res.StatusCode, len(b), o.hits.Load())
		}
	})
	t.Run("an origin that answers 206 to a request without Range", func(t *testing.T) {
		o := newRangeOrigin(t, body, `"v1"`)
		o.partialAlways = true
		n := node(t, o.URL(), "", "")
		for i := 1; i <= 2; i++ {
			res, b, _ := fetch(t, "GET", n.URL("/v"), "Range: bytes=0-9")
			if res.StatusCode != 206 || !bytes.Equal(b, body[:10]) || o.hits.Load() != int64(i) {
				t.Fatalf("request %d: status %d, %d bytes, origin hits %d", i, res.StatusCode, len(b), o.hits.Load())
			}
			if cs := res.Header.Get("Cache-Status"); strings.Contains(cs, "stored") || strings.Contains(cs, "hit") {
				t.Fatalf("request %d: Cache-Status %q", i, cs)
			}
		}
		res, _, _ := fetch(t, "GET", n.URL("/v"))
		if res.StatusCode == 200 || o.hits.Load() != 3 {
			t.Fatalf("GET without Range: status %d, origin hits %d: the 206 was served as the whole object", res.StatusCode, o.hits.Load())
		}
	})
}

// Slices are ordinary entries of the memory tier: a sliced object larger
// than the tier leaves it within its bytes, with evictions counted.
func TestSlicesInTierBounds(t *testing.T) {
	body := versionBody(3<<20, 1)
	o := newRangeOrigin(t, body, `"v1"`)
	n := node(t, o.URL(), "{slice: 64KiB}", "{memory: 1MiB}")
	res, b, err := fetch(t, "GET", n.URL("/big"))
	if err != nil || res.StatusCode != 200 || !bytes.Equal(b, body) || o.hits.Load() != 48 {
		t.Fatalf("status %d, %d bytes, origin hits %d (want 48 slices)", res.StatusCode, len(b), o.hits.Load())
	}
	if got := gauge(n, "levee_cache_bytes", "memory"); got > 1<<20 || got <= 0 {
		t.Fatalf("memory tier holds %v bytes, bound 1 MiB", got)
	}
	if metricLabel(n, "levee_cache_evictions_total", "memory") == 0 {
		t.Fatalf("no eviction counted")
	}
}

// Edge cases of RFC 9110 14 and of origins: an empty representation (the
// origin's 416 "bytes */0" for the first slice), a 404 (an ordinary fill,
// stored as usual), a conditional request answered from a slice's
// validator, and an origin answering another range than asked (502).
func TestSliceEdges(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		o := newRangeOrigin(t, []byte{}, `"e"`)
		n := node(t, o.URL(), sliceRoute(), "")
		res, b, err := fetch(t, "GET", n.URL("/e"))
		if err != nil || res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Length") != "0" {
			t.Fatalf("GET: status %d, Content-Length %q, %d bytes", res.StatusCode, res.Header.Get("Content-Length"), len(b))
		}
		res, _, _ = fetch(t, "GET", n.URL("/e"), "Range: bytes=0-")
		if res.StatusCode != 416 || res.Header.Get("Content-Range") != "bytes */0" {
			t.Fatalf("Range: status %d, Content-Range %q", res.StatusCode, res.Header.Get("Content-Range"))
		}
	})
	t.Run("404", func(t *testing.T) {
		o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			http.Error(w, "no such video", http.StatusNotFound)
		}))
		n := node(t, o.URL, sliceRoute(), "")
		for i := 0; i < 2; i++ {
			res, b, _ := fetch(t, "GET", n.URL("/missing"), "Range: bytes=0-99")
			if res.StatusCode != 404 || !strings.Contains(string(b), "no such video") {
				t.Fatalf("status %d %q", res.StatusCode, b)
			}
		}
		if o.Hits() != 1 {
			t.Fatalf("origin hits %d, want 1 (the 404 stored as an object)", o.Hits())
		}
	})
	t.Run("conditional", func(t *testing.T) {
		o := newRangeOrigin(t, versionBody(sliceLen, 1), `"v1"`)
		n := node(t, o.URL(), sliceRoute(), "")
		res, b, _ := fetch(t, "GET", n.URL("/v"), `If-None-Match: "v1"`)
		if res.StatusCode != 304 || len(b) != 0 {
			t.Fatalf("If-None-Match: status %d", res.StatusCode)
		}
		res, _, _ = fetch(t, "GET", n.URL("/v"), `If-Match: "v0"`)
		if res.StatusCode != 412 {
			t.Fatalf("If-Match: status %d", res.StatusCode)
		}
		res, b, _ = fetch(t, "GET", n.URL("/v"), "Range: bytes=0-9", `If-Range: "v0"`)
		if res.StatusCode != 200 || len(b) != sliceLen {
			t.Fatalf("If-Range with another tag: status %d, %d bytes, want the whole 200", res.StatusCode, len(b))
		}
	})
	t.Run("origin dies mid-slice", func(t *testing.T) {
		body := versionBody(sliceLen, 1)
		o := newRangeOrigin(t, body, `"v1"`)
		o.cutAt = 2048
		n := node(t, o.URL(), sliceRoute(), "")
		if res, err := leveetest.Client().Get(n.URL("/v")); err == nil {
			b, rerr := io.ReadAll(res.Body)
			res.Body.Close()
			if rerr == nil || !bytes.Equal(b, body[:len(b)]) {
				t.Fatalf("status %d, %d bytes, read error %v: want a cut prefix", res.StatusCode, len(b), rerr)
			}
		}
		o.mu.Lock()
		o.cutAt = 0
		o.mu.Unlock()
		res, b, err := fetch(t, "GET", n.URL("/v"), "Range: bytes=2000-2100")
		if err != nil || res.StatusCode != 206 || !bytes.Equal(b, body[2000:2101]) {
			t.Fatalf("after the origin recovers: status %d, %d bytes", res.StatusCode, len(b))
		}
	})
	t.Run("only-if-cached", func(t *testing.T) {
		o := newRangeOrigin(t, versionBody(sliceLen, 1), `"v1"`)
		n := node(t, o.URL(), sliceRoute(), "")
		oic := "Cache-Control: only-if-cached"
		if res, _, _ := fetch(t, "GET", n.URL("/v"), oic); res.StatusCode != 504 || o.hits.Load() != 0 {
			t.Fatalf("cold: status %d, origin hits %d", res.StatusCode, o.hits.Load())
		}
		fetch(t, "GET", n.URL("/v"), "Range: bytes=0-9")
		if res, _, _ := fetch(t, "GET", n.URL("/v"), oic); res.StatusCode != 504 {
			t.Fatalf("one slice of five stored, whole asked: status %d", res.StatusCode)
		}
		res, b, _ := fetch(t, "GET", n.URL("/v"), oic, "Range: bytes=10-19")
		if res.StatusCode != 206 || len(b) != 10 || o.hits.Load() != 1 {
			t.Fatalf("stored slice: status %d, origin hits %d", res.StatusCode, o.hits.Load())
		}
	})
	t.Run("too many slices", func(t *testing.T) {
		o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-1023/%d", int64(1<<20)*1024+1))
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusPartialContent)
			w.Write(make([]byte, 1024))
		}))
		n := node(t, o.URL, sliceRoute(), "")
		res, _, _ := fetch(t, "GET", n.URL("/v"), "Range: bytes=0-9")
		if res.StatusCode != 502 || metric(n, "levee_cache_overflow_total") != 1 {
			t.Fatalf("status %d, overflow %v, want 502 and 1", res.StatusCode, metric(n, "levee_cache_overflow_total"))
		}
	})
	t.Run("another range than asked", func(t *testing.T) {
		o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-9/5000")
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusPartialContent)
			w.Write([]byte("0123456789"))
		}))
		n := node(t, o.URL, sliceRoute(), "")
		res, _, _ := fetch(t, "GET", n.URL("/v"))
		if res.StatusCode != 502 {
			t.Fatalf("status %d, want 502", res.StatusCode)
		}
	})
}
