package compress_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// storedVariant asks for path in coding until the cache answers from its
// stored variant (a strong ETag suffixed with the coding), within a
// bounded number of tries: the variant is made in the background after
// the first hit.
func storedVariant(t *testing.T, n *leveetest.Node, path, coding, etag string) (*http.Response, []byte) {
	t.Helper()
	want := strings.TrimSuffix(etag, `"`) + "-" + coding + `"`
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 3000 && time.Now().Before(deadline); i++ {
		res, b := fetch(t, n.URL(path), "Accept-Encoding", coding)
		if res.Header.Get("ETag") == want {
			return res, b
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s in %s: no stored variant with ETag %s", path, coding, want)
	return nil, nil
}

// metric returns the sum of a metric's samples whose line contains all
// of the given label pairs, from the admin /metrics page.
func metric(t *testing.T, n *leveetest.Node, name string, labels ...string) float64 {
	t.Helper()
	_, page, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// For each encoding, the variant the cache stores decodes to the
// origin's body byte for byte, is sent with its length, a strong ETag of
// its own and Vary, from empty-ish to 10MiB.
func TestStoredVariantRoundTrip(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	sizes := []int{1024, 65_537, 1 << 20, 10 << 20}
	switch {
	case testing.Short():
		sizes = sizes[:2]
	case raceEnabled:
		sizes = sizes[:3] // see TestRoundTrip
	}
	for _, coding := range []string{"gzip", "br", "zstd"} {
		for _, size := range sizes {
			path := fmt.Sprintf("/c/%d/stored-%s", size, coding)
			fetch(t, n.URL(path), "Accept-Encoding", coding) // the miss
			res, b := storedVariant(t, n, path, coding, fmt.Sprintf(`"v%d"`, size))
			if got := decode(t, res.Header.Get("Content-Encoding"), b); !bytes.Equal(got, body(size)) {
				t.Fatalf("%s size %d: decoded stored variant differs (%d bytes)", coding, size, len(got))
			}
			if res.Header.Get("Content-Encoding") != coding || res.Header.Get("Vary") != "Accept-Encoding" ||
				res.Header.Get("Content-Length") != strconv.Itoa(len(b)) || !strings.HasPrefix(res.Header.Get("Cache-Status"), "levee; hit") {
				t.Fatalf("%s size %d: headers %v", coding, size, res.Header)
			}
		}
	}
	if v := metric(t, n, "levee_cache_encoded_variants_total", `result="hit"`); v < float64(3*len(sizes)) {
		t.Fatalf("levee_cache_encoded_variants_total{result=hit} = %v", v)
	}
}

// A Range request on a stored variant is answered on the variant's bytes
// (RFC 9110 14: ranges apply to the selected representation); If-Range
// with the variant's strong ETag keeps the range, the identity's does not.
func TestRangeOnStoredVariant(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	path := "/c/50000/range"
	fetch(t, n.URL(path), "Accept-Encoding", "br")
	full, enc := storedVariant(t, n, path, "br", `"v50000"`)
	et := full.Header.Get("ETag")
	res, b := fetch(t, n.URL(path), "Accept-Encoding", "br", "Range", "bytes=10-109")
	if res.StatusCode != http.StatusPartialContent || res.Header.Get("Content-Encoding") != "br" || res.Header.Get("ETag") != et {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	if cr := res.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 10-109/%d", len(enc)) {
		t.Fatalf("Content-Range %q, want of the %d encoded bytes", cr, len(enc))
	}
	if !bytes.Equal(b, enc[10:110]) {
		t.Fatal("range bytes are not the stored variant's")
	}
	res, b = fetch(t, n.URL(path), "Accept-Encoding", "br", "Range", "bytes=-5", "If-Range", et)
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, enc[len(enc)-5:]) {
		t.Fatalf("If-Range with the variant's ETag: status %d", res.StatusCode)
	}
	res, b = fetch(t, n.URL(path), "Accept-Encoding", "br", "Range", "bytes=0-9", "If-Range", `"v50000"`)
	if res.StatusCode != http.StatusOK || !bytes.Equal(b, enc) {
		t.Fatalf("If-Range with the identity's ETag: status %d, %d bytes", res.StatusCode, len(b))
	}
	// A client without br still gets the identity's ranges.
	res, b = fetch(t, n.URL(path), "Range", "bytes=10-109")
	if res.StatusCode != http.StatusPartialContent || res.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, body(50000)[10:110]) {
		t.Fatalf("identity range: status %d, Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
}

// A stored variant is counted in the cache's bytes and objects, and a
// purge of the URL drops it with the identity.
func TestStoredVariantCountedAndPurged(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	path := "/c/300000/purge"
	// Counted from before the miss: the variant is made at the fill, in
	// the background, so it may already be there when the miss returns.
	objects := metric(t, n, "levee_cache_objects", `tier="memory"`)
	bytesBefore := metric(t, n, "levee_cache_bytes", `tier="memory"`)
	fetch(t, n.URL(path), "Accept-Encoding", "gzip")
	_, enc := storedVariant(t, n, path, "gzip", `"v300000"`)
	if got := metric(t, n, "levee_cache_objects", `tier="memory"`); got != objects+2 {
		t.Fatalf("objects in memory %v, want %v (identity + variant)", got, objects+2)
	}
	if got := metric(t, n, "levee_cache_bytes", `tier="memory"`); got < bytesBefore+300000+float64(len(enc)) {
		t.Fatalf("memory bytes %v, want at least %v + the identity's 300000 + the variant's %d", got, bytesBefore, len(enc))
	}
	res, err := http.Post(n.AdminURL("/purge"), "application/json", strings.NewReader(`{"url": "/c/300000/purge"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := metric(t, n, "levee_cache_objects", `tier="memory"`); got != objects {
		t.Fatalf("objects in memory after purge %v, want %v", got, objects)
	}
	hits := o.Hits()
	res2, b := fetch(t, n.URL(path), "Accept-Encoding", "gzip")
	if o.Hits() != hits+1 || res2.Header.Get("ETag") != `W/"v300000"` || !bytes.Equal(decode(t, "gzip", b), body(300000)) {
		t.Fatalf("after purge: origin hits %d→%d, ETag %q", hits, o.Hits(), res2.Header.Get("ETag"))
	}
}

// no-transform and already-encoded responses are never stored encoded:
// hits keep answering them byte for byte.
func TestNoVariantForUntouched(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	for i := 0; i < 5; i++ {
		for _, path := range []string{"/gz/5000", "/nt/5000"} {
			res, _ := fetch(t, n.URL(path), "Accept-Encoding", "br")
			if ce := res.Header.Get("Content-Encoding"); ce == "br" {
				t.Fatalf("%s: encoded in br", path)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := metric(t, n, "levee_cache_encoded_variants_total"); v != 0 {
		t.Fatalf("encoded variants made: %v", v)
	}
}

// With a disk tier, the variant is written to disk like its identity, and
// a restarted node answers it from there at once, without the origin.
func TestStoredVariantOnDisk(t *testing.T) {
	o := origin(t)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
compress: {enabled: true}
cache: {memory: 64MiB, disk: {path: %q}}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, dir, o.URL)
	n := leveetest.Start(t, yaml)
	path := "/c/200000/disk"
	fetch(t, n.URL(path), "Accept-Encoding", "zstd")
	_, enc := storedVariant(t, n, path, "zstd", `"v200000"`)
	deadline := time.Now().Add(30 * time.Second)
	for metric(t, n, "levee_cache_objects", `tier="disk"`) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := metric(t, n, "levee_cache_objects", `tier="disk"`); got != 2 {
		t.Fatalf("objects on disk %v, want 2 (identity + variant)", got)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	hits := o.Hits()
	n2 := leveetest.Start(t, yaml)
	res, b := fetch(t, n2.URL(path), "Accept-Encoding", "zstd")
	if res.Header.Get("ETag") != `"v200000-zstd"` || !bytes.Equal(b, enc) || o.Hits() != hits {
		t.Fatalf("after restart: ETag %q, same bytes %v, origin asked %d times", res.Header.Get("ETag"), bytes.Equal(b, enc), o.Hits()-hits)
	}
}

// The variant is made at the fill, in the background: once it is stored,
// the first hit after the miss is answered from it (issue 16).
func TestVariantMadeAtFill(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	for _, coding := range []string{"gzip", "br", "zstd"} {
		path := "/c/65537/fill-" + coding
		before := metric(t, n, "levee_cache_encoded_variants_total", `result="stored"`)
		res, _ := fetch(t, n.URL(path), "Accept-Encoding", coding) // the miss
		if !strings.Contains(res.Header.Get("Cache-Status"), "fwd=miss") {
			t.Fatalf("%s: the first request was not a miss: %v", coding, res.Header)
		}
		deadline := time.Now().Add(20 * time.Second)
		for metric(t, n, "levee_cache_encoded_variants_total", `result="stored"`) == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no variant stored after the fill alone", coding)
			}
			time.Sleep(20 * time.Millisecond)
		}
		res, b := fetch(t, n.URL(path), "Accept-Encoding", coding) // the first hit
		if res.Header.Get("ETag") != `"v65537-`+coding+`"` || !bytes.Equal(decode(t, coding, b), body(65537)) {
			t.Fatalf("%s: the first hit is not the stored variant: %v", coding, res.Header)
		}
	}
}
