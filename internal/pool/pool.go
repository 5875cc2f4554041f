// Package pool holds origin pools and the policies that pick an origin from
// one. A pool is built per config generation; what must outlive a reload
// (connections, health) is keyed by the origin's identity elsewhere.
package pool

import (
	"net/http"
	"net/url"
	"time"
)

// Origin is one origin server of a pool.
type Origin struct {
	// URL is the origin's scheme and host.
	URL *url.URL
	// Host is URL.Host, kept for the hot path.
	Host string
	// Weight is the origin's relative share.
	Weight int
}

// Pool is an ordered set of origins with the transport that reaches them and
// the policy that picks among them.
type Pool struct {
	// Name is the configured name, or "site/route" for an inline pool.
	Name string
	// Origins are the pool's members in config order.
	Origins []*Origin
	// Transport carries requests to this pool's origins.
	Transport http.RoundTripper
	// Picker chooses an origin for each request.
	Picker Picker
	// Total bounds a whole exchange with an origin, body included; 0 means
	// no bound beyond the transport's own timeouts.
	Total time.Duration
}

// Picker chooses the origin for one request. Implementations must be safe
// for concurrent use and should not allocate.
type Picker interface {
	Pick(r *http.Request) *Origin
}

// New returns a pool picking by weighted round robin.
func New(name string, origins []*Origin, rt http.RoundTripper) *Pool {
	return &Pool{Name: name, Origins: origins, Transport: rt, Picker: NewRoundRobin(origins)}
}
