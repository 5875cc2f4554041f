package compress_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

// rawOrigin answers every request on a raw TCP socket with resp, then
// closes: the odd origins net/http would not be.
func rawOrigin(t *testing.T, resp func() string) string {
	return raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string { return resp() }
		o.CloseAfterAnswer = true
	}).URL
}

func rawNode(t *testing.T, url string) *leveetest.Node {
	return leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
compress: {enabled: true}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, url))
}

// An origin that dies mid-body must not yield a compressed body that
// decodes as complete: the client sees an error, whatever the encoding.
func TestTruncatedOriginNotCompleted(t *testing.T) {
	text := strings.Repeat("levee truncated body ", 5000) // ~100KB
	url := rawOrigin(t, func() string {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + fmt.Sprint(2*len(text)) + "\r\n\r\n" + text
	})
	n := rawNode(t, url)
	for _, coding := range []string{"gzip", "br", "zstd"} {
		req, _ := http.NewRequest("GET", n.URL("/x"), nil)
		req.Header.Set("Accept-Encoding", coding)
		res, err := rawClient.Do(req)
		if err != nil {
			continue // refused before a byte: also not a complete body
		}
		// The connection's abort already shows the truncation; the
		// bytes received must not decode as a complete stream either,
		// for a client or cache that reads up to the abort.
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got, derr := decodeErr(res.Header.Get("Content-Encoding"), b)
		if derr == nil {
			t.Fatalf("%s: truncated body decodes as complete (%d bytes decoded to %d)", coding, len(b), len(got))
		}
	}
}

// Odd but legal origin headers: an upper-case coding name is still an
// encoding (left alone), a Content-Type with parameters and odd case is
// still text (compressed).
func TestOddOriginHeaders(t *testing.T) {
	text := strings.Repeat("x", 4000)
	url := rawOrigin(t, func() string {
		return "HTTP/1.1 200 OK\r\nContent-Type: TEXT/Plain ; Charset=\"utf-8\"\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n" + text
	})
	n := rawNode(t, url)
	res, b := fetch(t, n.URL("/x"), "Accept-Encoding", "gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || string(decode(t, "gzip", b)) != text {
		t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	enc := gzipped([]byte(text))
	url = rawOrigin(t, func() string {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: GZIP\r\nContent-Length: " + fmt.Sprint(len(enc)) + "\r\nConnection: close\r\n\r\n" + string(enc)
	})
	n = rawNode(t, url)
	res, b = fetch(t, n.URL("/x"), "Accept-Encoding", "br")
	if res.Header.Get("Content-Encoding") != "GZIP" || string(b) != string(enc) {
		t.Fatalf("pre-encoded body changed: Content-Encoding %q, %d bytes", res.Header.Get("Content-Encoding"), len(b))
	}
}
