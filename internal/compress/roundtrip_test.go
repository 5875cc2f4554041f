package compress_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"levee/internal/leveetest"
)

// body returns n bytes of text that compresses like real text: words from
// a small vocabulary in a seeded random order.
func body(n int) []byte {
	words := []string{"levee ", "edge ", "cache ", "origin ", "<div class=\"x\">", "</div>\n", "{\"k\": 12}, ", "lorem ", "ipsum "}
	r := rand.New(rand.NewPCG(uint64(n), 7))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteString(strconv.Itoa(r.IntN(1000)))
	}
	return b.Bytes()[:n]
}

// origin serves /s/N streamed (chunks, flushed, no length, no caching)
// and /c/N with a length, an ETag and a long freshness.
func origin(t *testing.T) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/")
		n, _ := strconv.Atoi(parts[2])
		b := body(n)
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		switch parts[1] {
		case "s":
			h.Set("Cache-Control", "no-store")
			for len(b) > 0 {
				k := min(len(b), 100_000)
				w.Write(b[:k])
				w.(http.Flusher).Flush()
				b = b[k:]
			}
		case "c":
			h.Set("Cache-Control", "public, max-age=3600")
			h.Set("ETag", `"v`+strconv.Itoa(n)+`"`)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
		case "gz": // already encoded by the origin
			h.Set("Content-Encoding", "gzip")
			h.Set("Cache-Control", "public, max-age=3600")
			w.Write(gzipped(b))
		case "nt":
			h.Set("Cache-Control", "public, max-age=3600, no-transform")
			h.Set("ETag", `"nt"`)
			w.Write(b)
		case "img":
			h.Set("Content-Type", "image/png")
			w.Write(b)
		}
	}))
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func startNode(t *testing.T, o *leveetest.Origin) *leveetest.Node {
	return leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
compress: {enabled: true}
cache: {memory: 128MiB, max_object_size: 16MiB}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, o.URL))
}

// rawClient does not ask for or decode compression by itself.
var rawClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}

func fetch(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func decode(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	out, err := decodeErr(coding, b)
	if err != nil {
		t.Fatalf("decode %q: %v", coding, err)
	}
	return out
}

func decodeErr(coding string, b []byte) ([]byte, error) {
	var r io.Reader
	switch coding {
	case "":
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unexpected Content-Encoding %q", coding)
	}
	return io.ReadAll(r)
}

// For each encoding, the decoded body equals the origin's byte for byte,
// streamed and cached (miss, then hit), from empty to 10MiB; below the
// minimum size the body is sent as it is.
func TestRoundTrip(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	sizes := []int{0, 1, 1023, 1024, 65_537, 1 << 20, 10 << 20}
	switch {
	case testing.Short():
		sizes = sizes[:5]
	case raceEnabled:
		// Brotli under the race detector runs at a few hundred KB/s on
		// a shared machine: the 10MiB case runs without -race.
		sizes = sizes[:6]
	}
	for _, coding := range []string{"gzip", "br", "zstd", ""} {
		for _, size := range sizes {
			for _, path := range []string{"/s/", "/c/", "/c/"} { // the second /c/ is a hit
				url := n.URL(fmt.Sprintf("%s%d/%s", path, size, coding))
				res, b := fetch(t, url, "Accept-Encoding", coding)
				got := decode(t, res.Header.Get("Content-Encoding"), b)
				if !bytes.Equal(got, body(size)) {
					t.Fatalf("%s %s size %d: decoded body differs (%d bytes, want %d)", coding, path, size, len(got), size)
				}
				wantCE := coding
				if size < 1024 {
					wantCE = ""
				}
				// A stream the origin flushes before the minimum size is
				// compressed from its first flush: levee cannot tell how
				// much more will come.
				streamedSmall := path == "/s/" && size > 0 && size < 1024
				if ce := res.Header.Get("Content-Encoding"); ce != wantCE && !(streamedSmall && ce == coding) {
					t.Fatalf("%s %s size %d: Content-Encoding %q, want %q", coding, path, size, ce, wantCE)
				}
				if size >= 1024 && res.Header.Get("Vary") != "Accept-Encoding" {
					t.Fatalf("%s size %d: Vary %q", path, size, res.Header.Get("Vary"))
				}
				// On the fly the ETag is weakened; a hit may already come
				// from the cache's stored variant, with its own strong one.
				if et := res.Header.Get("ETag"); path == "/c/" && wantCE != "" && et != fmt.Sprintf(`W/"v%d"`, size) &&
					et != fmt.Sprintf(`"v%d-%s"`, size, coding) {
					t.Fatalf("ETag %q neither weakened nor the variant's", et)
				}
				if path == "/c/" && wantCE == "" && res.Header.Get("ETag") != fmt.Sprintf(`"v%d"`, size) {
					t.Fatalf("ETag %q changed on an identity body", res.Header.Get("ETag"))
				}
			}
		}
	}
}

// Origin-encoded, no-transform and non-compressible responses reach the
// client byte for byte with their headers.
func TestUntouched(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	for _, path := range []string{"/gz/5000", "/nt/5000", "/img/5000"} {
		for i := 0; i < 2; i++ {
			res, b := fetch(t, n.URL(path), "Accept-Encoding", "br, gzip, zstd")
			want := body(5000)
			switch path {
			case "/gz/5000":
				want = gzipped(want)
				if res.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("%s: Content-Encoding %q", path, res.Header.Get("Content-Encoding"))
				}
			case "/nt/5000":
				if res.Header.Get("ETag") != `"nt"` {
					t.Fatalf("no-transform ETag changed: %q", res.Header.Get("ETag"))
				}
				fallthrough
			default:
				if ce := res.Header.Get("Content-Encoding"); ce != "" {
					t.Fatalf("%s: Content-Encoding %q", path, ce)
				}
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("%s: body changed (%d bytes, want %d)", path, len(b), len(want))
			}
		}
	}
}

// A Range request is answered from the identity body: the 206's bytes
// are the identity's bytes, from the cache and from the origin.
func TestRangeNotCompressed(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	full := body(50_000)
	for i := 0; i < 2; i++ {
		res, b := fetch(t, n.URL("/c/50000"), "Accept-Encoding", "gzip", "Range", "bytes=100-199")
		if res.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d, want 206", res.StatusCode)
		}
		switch ce := res.Header.Get("Content-Encoding"); ce {
		case "":
			if !bytes.Equal(b, full[100:200]) {
				t.Fatalf("range bytes differ: %q", b)
			}
		case "gzip":
			// The variant is made at the fill, in the background, so a
			// later range may be one of the stored variant (its own ETag
			// and length, TestRangeOnStoredVariant); never a range of
			// the identity compressed on the fly.
			_, enc := storedVariant(t, n, "/c/50000", "gzip", `"v50000"`)
			if res.Header.Get("ETag") != `"v50000-gzip"` || res.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(enc)) || !bytes.Equal(b, enc[100:200]) {
				t.Fatalf("a gzip range that is not the stored variant's: ETag %q, Content-Range %q",
					res.Header.Get("ETag"), res.Header.Get("Content-Range"))
			}
		default:
			t.Fatalf("Content-Encoding %q", ce)
		}
	}
}

// The weakened ETag validates: If-None-Match with it gets a 304 that
// carries the same weak ETag; HEAD gets the headers GET would.
func TestConditionalAndHead(t *testing.T) {
	o := origin(t)
	n := startNode(t, o)
	res, _ := fetch(t, n.URL("/c/8000"), "Accept-Encoding", "gzip")
	et := res.Header.Get("ETag")
	if et != `W/"v8000"` {
		t.Fatalf("ETag %q", et)
	}
	res, b := fetch(t, n.URL("/c/8000"), "Accept-Encoding", "gzip", "If-None-Match", et)
	if res.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Fatalf("conditional: status %d, %d bytes", res.StatusCode, len(b))
	}
	req, _ := http.NewRequest("HEAD", n.URL("/c/8000"), nil)
	req.Header.Set("Accept-Encoding", "zstd")
	hres, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	// On the fly the length is unknown; from a stored variant it is its own.
	if hres.Header.Get("Content-Encoding") != "zstd" || (hres.Header.Get("Content-Length") != "" && hres.Header.Get("ETag") != `"v8000-zstd"`) {
		t.Fatalf("HEAD: Content-Encoding %q, Content-Length %q", hres.Header.Get("Content-Encoding"), hres.Header.Get("Content-Length"))
	}
}
