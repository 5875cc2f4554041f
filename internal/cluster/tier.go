package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/cespare/xxhash/v2"

	"levee/internal/cache"
	"levee/internal/pipeline"
)

// TierHeader marks a request one node sends another's upper tier, so the
// upper tier goes to the origin instead of asking further.
const TierHeader = "Levee-Tier"

// Tier bounds.
const (
	tierDialTimeout   = 200 * time.Millisecond
	tierHeaderTimeout = 30 * time.Second
	maxTierIdle       = 64
)

// tier sends cache fills to the object's upper-tier node.
type tier struct {
	c  *Capability
	cl *http.Client
}

func newTier(c *Capability) *tier {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: tierDialTimeout}).DialContext,
		ResponseHeaderTimeout: tierHeaderTimeout,
		MaxIdleConnsPerHost:   maxTierIdle,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
	}
	return &tier{c: c, cl: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// owner is the live member that is the upper tier of key: rendezvous
// (highest random weight) hashing, so a member joining or leaving moves
// only its own share of objects.
func owner(members []Member, key string) (Member, bool) {
	var best Member
	var bestW uint64
	found := false
	for _, m := range members {
		if m.Advertise == "" {
			continue
		}
		w := xxhash.Sum64String(m.Name + "\x00" + key)
		if !found || w > bestW || (w == bestW && m.Name < best.Name) {
			best, bestW, found = m, w, true
		}
	}
	return best, found
}

// phase is the "tier" phase: a fill (only a fill: bypasses and
// uncacheable requests go straight on) whose object another live member
// owns asks that member first; if it cannot answer, or answers 5xx, the
// fill goes to the origin itself.
func (t *tier) phase(self string) pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {

			if !cache.IsFill(w) || r.Header.Get(TierHeader) != "" || r.Method != http.MethodGet {
				return next.ServeHTTP(w, r)
			}
			ms := t.c.members.Load()
			if ms == nil || !t.c.storeUp() {
				return next.ServeHTTP(w, r)
			}
			up, ok := owner(*ms, r.Host+r.URL.RequestURI())
			if !ok || up.Name == self {
				return next.ServeHTTP(w, r)
			}
			if t.fetch(w, r, up, self) {
				return nil
			}
			return next.ServeHTTP(w, r)
		})
	}
}

// fetch asks up for r and streams its answer into w. It returns false,
// having written nothing, when up failed before answering or answered
// 5xx: then the origin is asked.
func (t *tier) fetch(w http.ResponseWriter, r *http.Request, up Member, self string) bool {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, up.Advertise+r.URL.RequestURI(), nil)
	if err != nil {
		return false
	}
	out.Host = r.Host
	for k, vs := range r.Header {
		if !hopByHop[k] {
			out.Header[k] = vs
		}
	}
	out.Header.Set(TierHeader, self)
	res, err := t.cl.Do(out)
	if err != nil {
		t.c.m.tier.WithLabelValues("error").Inc()
		return false
	}
	defer res.Body.Close()

	if res.StatusCode >= 500 {
		t.c.m.tier.WithLabelValues("error").Inc()
		return false
	}
	h := w.Header()
	for k, vs := range res.Header {
		if !hopByHop[k] && k != "Cache-Status" && k != pipeline.RequestIDHeader {
			h[k] = vs
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
	t.c.m.tier.WithLabelValues("upper").Inc()
	return true
}

var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy-Authorization": true, "Proxy-Authenticate": true}

// storeUp reports whether the node reaches the store now: with it away
// the member list is stale, so fills go to the origin.
func (c *Capability) storeUp() bool {
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	return r != nil && r.st.up()
}
