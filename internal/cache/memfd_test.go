package cache_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// randomBody returns n deterministic pseudo-random bytes: a body served
// from a shared file offset would come out shuffled, not just short.
func randomBody(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// memfds counts this process's open memfd bodies.
func memfds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "/memfd:levee-cache") {
			n++
		}
	}
	return n
}

// memfdMaps counts this process's mappings of memfd bodies.
func memfdMaps(t testing.TB) int {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	return strings.Count(string(maps), "/memfd:levee-cache")
}

func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// bigOrigin serves body (strong ETag, cacheable) at every path.
func bigOrigin(t *testing.T, body []byte) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"v1"`)
		w.Write(body)
	}))
}

// A memory-tier hit over MemfdMin is served from a memfd, written from its
// mapping: 50 goroutines x 8 requests (plus ranges) all get byte-identical
// bodies; the memfd and its mapping go with the node.
func TestMemfdConcurrentHits(t *testing.T) {
	before, mapsBefore := memfds(t), memfdMaps(t)
	body := randomBody(200<<10, 1)
	want := sha256.Sum256(body)
	o := bigOrigin(t, body)
	n := node(t, o.URL, "", "")
	res, b := get(t, "GET", n.URL("/obj"))
	wantStatus(t, res, 200, "stored")
	if sha256.Sum256([]byte(b)) != want {
		t.Fatal("fill body differs")
	}
	if got := memfds(t) - before; got != 1 {
		t.Fatalf("%d memfds after one large fill, want 1", got)
	}
	if got := memfdMaps(t) - mapsBefore; got != 1 {
		t.Fatalf("%d memfd mappings after one large fill, want 1", got)
	}
	client := leveetest.Client()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				req, _ := http.NewRequest("GET", n.URL("/obj"), nil)
				start, end := 0, len(body)-1
				if i%4 == 3 { // every fourth request is a range
					start = (g*7919 + i*104729) % (len(body) - 1)
					end = min(start+g*1000+1, len(body)-1)
					req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
				}
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if res.Header.Get("Cache-Status") != "levee; hit" {
					errs <- fmt.Errorf("Cache-Status %q", res.Header.Get("Cache-Status"))
					return
				}
				if sha256.Sum256(got) != sha256.Sum256(body[start:end+1]) {
					errs <- fmt.Errorf("goroutine %d request %d (bytes %d-%d, status %d): body differs (%d bytes)",
						g, i, start, end, res.StatusCode, len(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if o.Hits() != 1 {
		t.Fatalf("origin hits %d, want 1", o.Hits())
	}
	// The memfd alone: a mapped body needs no description per request.
	if got := memfds(t) - before; got != 1 {
		t.Fatalf("%d memfd descriptors open after the hits, want 1", got)
	}
	if got := metric(n, "levee_cache_memfd_errors_total"); got != 0 {
		t.Fatalf("memfd errors %v", got)
	}
	n.Shutdown()
	if got := memfds(t) - before; got != 0 {
		t.Fatalf("%d memfds left open after shutdown", got)
	}
	if got := memfdMaps(t) - mapsBefore; got != 0 {
		t.Fatalf("%d memfd mappings left after shutdown", got)
	}
}

// Range, If-Range, 416, HEAD and conditional requests on a memfd body.
func TestMemfdRangeHeadConditional(t *testing.T) {
	body := randomBody(100<<10, 2)
	o := bigOrigin(t, body)
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/r"))
	size := len(body)
	for _, tc := range []struct {
		rng        string
		status     int
		start, end int
	}{
		{"bytes=0-0", 206, 0, 0},
		{"bytes=0-99", 206, 0, 99},
		{"bytes=1000-", 206, 1000, size - 1},
		{"bytes=-10", 206, size - 10, size - 1},
		{"bytes=50000-50010", 206, 50000, 50010},
		{"bytes=" + strconv.Itoa(size-1) + "-" + strconv.Itoa(size+100), 206, size - 1, size - 1},
	} {
		res, b := get(t, "GET", n.URL("/r"), "Range: "+tc.rng)
		wantStatus(t, res, tc.status, "hit")
		if !bytes.Equal([]byte(b), body[tc.start:tc.end+1]) {
			t.Fatalf("%s: %d bytes, want %d", tc.rng, len(b), tc.end-tc.start+1)
		}
		want := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end, size)
		if res.Header.Get("Content-Range") != want || res.ContentLength != int64(tc.end-tc.start+1) {
			t.Fatalf("%s: Content-Range %q, length %d", tc.rng, res.Header.Get("Content-Range"), res.ContentLength)
		}
	}
	res, b := get(t, "GET", n.URL("/r"), "Range: bytes="+strconv.Itoa(size)+"-")
	if res.StatusCode != 416 || b != "" {
		t.Fatalf("past the end: %d %q", res.StatusCode, b)
	}
	res, b = get(t, "GET", n.URL("/r"), "Range: bytes=0-9", `If-Range: "old"`)
	if res.StatusCode != 200 || !bytes.Equal([]byte(b), body) {
		t.Fatalf("If-Range mismatch: %d, %d bytes", res.StatusCode, len(b))
	}
	res, b = get(t, "HEAD", n.URL("/r"))
	wantStatus(t, res, 200, "hit")
	if b != "" || res.ContentLength != int64(size) {
		t.Fatalf("HEAD: body %d bytes, Content-Length %d", len(b), res.ContentLength)
	}
	res, b = get(t, "GET", n.URL("/r"), `If-None-Match: "v1"`)
	if res.StatusCode != 304 || b != "" {
		t.Fatalf("If-None-Match: %d, %d bytes", res.StatusCode, len(b))
	}
	if o.Hits() != 1 {
		t.Fatalf("origin hits %d", o.Hits())
	}
}

// A purge while a large memfd body is streaming does not cut the
// request: the memfd stays open until it ends, then closes, and the
// process's descriptors return to their baseline.
func TestMemfdPurgeWhileStreaming(t *testing.T) {
	body := randomBody(12<<20, 3) // more than loopback socket buffers hold
	o := bigOrigin(t, body)
	n := node(t, o.URL, "", "{memory: 128MiB}")
	get(t, "GET", n.URL("/big"))
	client := leveetest.Client()
	client.CloseIdleConnections()
	// The fill stores the object after the client has the last byte: on a
	// loaded machine the memfd may come a moment later.
	for deadline := time.Now().Add(5 * time.Second); memfds(t) < 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	base, baseMemfd, baseMaps := fdCount(t), memfds(t), memfdMaps(t)
	if baseMemfd < 1 {
		t.Fatalf("no memfd for a 12 MiB memory-tier object")
	}
	res, err := client.Get(n.URL("/big"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, 200, "hit")
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	if c, _ := purge(t, n, `{"all":true}`); c != 200 {
		t.Fatalf("purge: %d", c)
	}
	// The request writes from the memfd's mapping: both stay.
	if got, maps := memfds(t), memfdMaps(t); got != baseMemfd || maps != baseMaps {
		t.Fatalf("memfd closed under a streaming request (%d open, want %d; %d mapped, want %d)",
			got, baseMemfd, maps, baseMaps)
	}
	rest, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(append(head, rest...)) != sha256.Sum256(body) {
		t.Fatalf("streamed body differs (%d bytes)", len(head)+len(rest))
	}
	waitFor(t, func() bool {
		client.CloseIdleConnections()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections() // the purge's
		return memfds(t) == baseMemfd-1 && memfdMaps(t) == baseMaps-1 && fdCount(t) <= base-1
	})
	res, _ = get(t, "GET", n.URL("/big"))
	wantStatus(t, res, 200, "stored")
}
