package leveetest_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"levee/internal/leveetest"
)

// Clients and Get must reuse connections: a test that leaves one idle
// connection per request behind fills a listener with a connection cap
// (the admin API's is 64), which then stops accepting.
func TestClientsReuseConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(leveetest.Text("ok"))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	const requests = 100
	for range requests / 2 {
		if code, body, _ := leveetest.Get(t, srv.URL); code != 200 || body != "ok" {
			t.Fatalf("Get: %d %q", code, body)
		}
		res, err := leveetest.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if n := opened.Load(); n > 2 {
		t.Fatalf("%d sequential requests opened %d connections, want 1 or 2", requests, n)
	}
}
