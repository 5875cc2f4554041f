package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// cannedTransport answers every request with the same small response, so
// the benchmark measures levee's own work per request: the phases, header
// handling, the proxy's copy loop, logging off.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 2,
		Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}},
		Body:   io.NopCloser(strings.NewReader("{}")),
	}, nil
}

func benchNode(b *testing.B) *Node {
	n := New(Options{Log: io.Discard, Access: io.Discard})
	err := n.StartFrom("bench", []byte(`
admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: b, hosts: ["*"], routes: [{origins: [{url: "http://127.0.0.1:9"}]}]}]
`))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Shutdown() })
	for _, s := range n.gen.Load().routes.Table.Sites() {
		for _, r := range s.Routes {
			for _, p := range r.Pools {
				p.Transport = cannedTransport{}
			}
		}
	}
	return n
}

// BenchmarkProxyRequest is one proxied GET through the whole chain. The
// request and recorder are built per iteration and counted too.
func BenchmarkProxyRequest(b *testing.B) {
	n := benchNode(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "http://shop.example/dyn?x=1", nil)
		req.RemoteAddr = "192.0.2.1:12345"
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := httptest.NewRecorder()
		n.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkRequestOverhead is the same request and recorder without levee,
// to subtract from BenchmarkProxyRequest.
func BenchmarkRequestOverhead(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "http://shop.example/dyn?x=1", nil)
		req.RemoteAddr = "192.0.2.1:12345"
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := httptest.NewRecorder()
		w.WriteHeader(200)
	}
}
