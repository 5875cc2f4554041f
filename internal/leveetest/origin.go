package leveetest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Origin is an httptest origin that counts the requests it receives.
type Origin struct {
	*httptest.Server
	hits atomic.Int64
}

// NewOrigin starts an origin serving h and counting requests.
func NewOrigin(t testing.TB, h http.Handler) *Origin {
	o := &Origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

// Hits returns how many requests reached the origin.
func (o *Origin) Hits() int64 { return o.hits.Load() }

// Text returns a handler that answers body with status 200.
func Text(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(body))
	})
}
