package proxy

import (
	"testing"

	"levee/internal/leveetest/raworigin"
)

// After writing a request on a plain pooled connection, the exchange
// waits for the origin poll's event instead of trying a read that finds
// nothing (issue 18: about one EAGAIN read and a netpoller park per
// request). Every answer is either woken by the poll or finds its event
// noted already; none times out into the sweep.
func TestOriginPollCarriesEveryAnswer(t *testing.T) {
	o := raworigin.Start(t, nil)
	tr := testH1(t)
	p := sharedOriginPoll()
	if p == nil {
		t.Fatal("no origin poll on linux")
	}
	const n = 50
	before := p.answered.Load()
	for i := range n {
		if code, body, err := send(t, tr, "GET", o.URL+"/a", ""); err != nil || code != 200 {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
	}
	// Other tests' connections share the poll, so at least n.
	if got := p.answered.Load() - before; got < n {
		t.Fatalf("%d of %d answers came through the origin poll", got, n)
	}
	if got := o.Conns.Load(); got != 1 {
		t.Fatalf("%d connections for %d sequential requests, want 1", got, n)
	}
}
