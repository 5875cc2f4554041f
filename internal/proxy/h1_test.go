package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/config"
)

func testH1(t *testing.T) *h1Transport {
	spec := config.PoolSpec{Protocol: "http1", MaxIdlePerOrigin: 8}
	spec.Timeouts.Dial = config.Duration(time.Second)
	spec.Timeouts.TLS = config.Duration(time.Second)
	spec.Timeouts.ResponseHeader = config.Duration(2 * time.Second)
	spec.Timeouts.Idle = config.Duration(3 * time.Second)
	tr, err := NewTransport(&spec)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.(*h1Transport)
	t.Cleanup(h.CloseIdleConnections)
	return h
}

// countingServer counts new TCP connections.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func get(t *testing.T, tr http.RoundTripper, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	res.Body.Close()
	return res, string(b)
}

func TestH1ReusesConnections(t *testing.T) {
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") != "" {
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, r.URL.RequestURI())
	}))
	tr := testH1(t)
	for i := 0; i < 20; i++ {
		uri := fmt.Sprintf("/p%d?q=%d", i, i)
		want := uri
		if i%2 == 0 {
			uri += "&chunked=1"
			want = "a" + uri
		}
		if _, body := get(t, tr, s.URL+uri); body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
	}
	if conns.Load() != 1 {
		t.Fatalf("20 sequential requests used %d connections, want 1", conns.Load())
	}
}

func TestH1RetriesStalePooledConnection(t *testing.T) {
	var n atomic.Int64
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, n.Add(1))
	}))
	tr := testH1(t)
	get(t, tr, s.URL+"/")
	// The origin drops its idle keep-alive connections behind our back.
	s.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if _, body := get(t, tr, s.URL+"/"); body != "2" {
		t.Fatalf("after stale connection: %q", body)
	}
	if conns.Load() != 2 {
		t.Fatalf("connections %d, want 2", conns.Load())
	}
}

func TestH1AbandonedBodyClosesConnection(t *testing.T) {
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 1<<20)))
	}))
	tr := testH1(t)
	req, _ := http.NewRequest("GET", s.URL+"/", nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(res.Body, make([]byte, 10))
	res.Body.Close()
	get(t, tr, s.URL+"/")
	if conns.Load() != 2 {
		t.Fatalf("a half-read connection was reused (connections %d)", conns.Load())
	}
}

func TestH1ConnectionCloseAndEarlyHints(t *testing.T) {
	s, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</s.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, "final")
	}))
	tr := testH1(t)
	for i := 0; i < 3; i++ {
		res, body := get(t, tr, s.URL+"/")
		if res.StatusCode != 200 || body != "final" {
			t.Fatalf("%d %q", res.StatusCode, body)
		}
	}
	if conns.Load() != 3 {
		t.Fatalf("Connection: close was not honoured (%d connections for 3 requests)", conns.Load())
	}
}

func TestH1HEADAndCancel(t *testing.T) {
	release := make(chan struct{})
	s, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Length", "5")
		if r.Method != "HEAD" {
			w.Write([]byte("hello"))
		}
	}))
	defer close(release)
	tr := testH1(t)
	req, _ := http.NewRequest("HEAD", s.URL+"/", nil)
	res, err := tr.RoundTrip(req)
	if err != nil || res.ContentLength != 5 {
		t.Fatalf("HEAD: %v %v", res, err)
	}
	res.Body.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", s.URL+"/hang", nil)
	errc := make(chan error, 1)
	go func() { _, err := tr.RoundTrip(req); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("cancelled request: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("cancel did not abort the wait for the response")
	}
	if _, body := get(t, tr, s.URL+"/"); body != "hello" {
		t.Fatalf("after cancel: %q", body)
	}
}

func TestH1FallbackForBodies(t *testing.T) {
	s, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	tr := testH1(t)
	req, _ := http.NewRequest("POST", s.URL+"/", strings.NewReader("data"))
	if tr.handles(req) {
		t.Fatal("a request with a body took the lean path")
	}
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "POST data" {
		t.Fatalf("%q", b)
	}
}
