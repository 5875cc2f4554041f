package listener_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// heldOrigin answers "done PATH" (no-store) and holds requests for /slow
// until release is closed (at most 5 s), so a test can reload the node
// while a request is in flight.
type heldOrigin struct {
	URL     string
	release chan struct{}
	arrived atomic.Int32
}

func newHeldOrigin(t *testing.T) *heldOrigin {
	h := &heldOrigin{release: make(chan struct{})}
	h.URL = leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			h.arrived.Add(1)
			select {
			case <-h.release:
			case <-time.After(5 * time.Second):
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "done "+r.URL.Path)
	})).URL
	return h
}

// waitArrived waits up to 2 s for a /slow request to reach the origin.
func (h *heldOrigin) waitArrived() bool {
	for i := 0; i < 200 && h.arrived.Load() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return h.arrived.Load() > 0
}
