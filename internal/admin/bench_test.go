package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"levee/internal/admin"
	"levee/internal/leveetest"
)

// benchServer is an admin server over the fake node whose one client (the
// loopback caller, no token) is refused by its rate after the first
// request when refuse is set, and let through otherwise.
func benchServer(b *testing.B, refuse bool) *admin.Server {
	lim := admin.Limits{PerClientRate: 1e9, PerClientBurst: 1e9, MaxRate: 1e9, MaxBurst: 1e9}
	if refuse {
		lim.PerClientRate, lim.PerClientBurst = 1e-9, 1
	}
	n := newFakeNode()
	s, err := admin.New(admin.Options{Node: n, Addr: "127.0.0.1:9090", DataDir: b.TempDir(), Limits: lim, Registry: n.reg})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRefusedRequest is the handler's cost of a request the admin
// listener refuses with 429 (what a flood from one client mostly gets).
//
//	go test -run - -bench 'Refused|Answered' -count 6 ./internal/admin
func BenchmarkRefusedRequest(b *testing.B) {
	s := benchServer(b, true)
	r := httptest.NewRequest("GET", "/api/v1/overview", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	s.ServeHTTP(httptest.NewRecorder(), r)
	b.ReportAllocs()
	for b.Loop() {
		w := newDiscardWriter()
		s.ServeHTTP(w, r)
		if w.code != http.StatusTooManyRequests {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkAnsweredHealthz is the guard's cost on the cheapest route.
func BenchmarkAnsweredHealthz(b *testing.B) {
	s := benchServer(b, false)
	r := httptest.NewRequest("GET", "/healthz", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	for b.Loop() {
		w := newDiscardWriter()
		s.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkRefusedLoopback is a refused request over a kept-alive loopback
// connection, client and server in this process: what 1,000 refusals a
// second cost in all.
func BenchmarkRefusedLoopback(b *testing.B) {
	s := benchServer(b, true)
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := leveetest.Client()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Get(hs.URL + "/api/v1/overview")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: http.Header{}} }

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	return len(p), nil
}
