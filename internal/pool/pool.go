// Package pool holds origin pools and the policies that pick an origin from
// one. A pool is built per config generation; what must outlive a reload
// (connections, health, in-flight counts) is keyed by the origin's identity
// elsewhere and reached through Origin.State.
package pool

import (
	"net/http"
	"net/url"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Origin is one origin server of a pool.
type Origin struct {
	// ID is the origin URL exactly as configured: its identity across
	// reloads, in health state, metrics and /status.
	ID string
	// URL is the origin's scheme and host.
	URL *url.URL
	// Host is URL.Host, kept for the hot path.
	Host string
	// Weight is the origin's relative share.
	Weight int
	// State is the origin's live state, shared by every generation that
	// has this origin. Never nil after NewOrigin.
	State *State
	// Report receives the outcome of every exchange with the origin
	// (passive health checks); nil reports nowhere.
	Report Reporter

	seed uint64   // hash of ID, for rendezvous hashing and sticky cookies
	lim  *limiter // nil when max_conns is not set
}

// Reporter receives the outcome of one exchange with an origin.
type Reporter interface {
	Report(o Outcome, latencyNS int64)
}

// Outcome classifies one exchange for passive health checks.
type Outcome uint8

// Outcomes of an exchange. A client that went away is never reported.
const (
	Success Outcome = iota
	ConnectFailure
	Timeout
	ServerError // a 5xx status
	Failure     // protocol or TLS error
)

// NewOrigin returns an origin with its live state; st may be shared with
// the same origin in other generations (nil makes a fresh one).
// maxConns > 0 turns on the circuit breaker: at most maxConns exchanges at
// once and maxPending waiting for a slot; beyond them the origin is skipped.
func NewOrigin(id string, u *url.URL, weight int, st *State, maxConns, maxPending int) *Origin {
	if st == nil {
		st = new(State)
	}
	if weight < 1 {
		weight = 1
	}
	o := &Origin{ID: id, URL: u, Host: u.Host, Weight: weight, State: st, seed: xxhash.Sum64String(id)}
	if maxConns > 0 {
		o.lim = &limiter{slots: make(chan struct{}, maxConns), maxPending: int64(maxPending)}
	}
	return o
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
	// QueueWait bounds the wait for a slot on an origin at max_conns that
	// allows max_pending waiters.
	QueueWait time.Duration

	panicNext counter
}

// Picker chooses the origin for one request among the usable ones (up and
// under their limits), honouring slow start, or returns nil when it finds
// none. Implementations must be safe for concurrent use and should not
// allocate.
type Picker interface {
	Pick(r *http.Request) *Origin
}

// Stamper is a Picker that marks the response so the client comes back to
// the same origin (sticky sessions).
type Stamper interface {
	Stamp(r *http.Request, h http.Header, o *Origin)
}

// New returns a pool picking by weighted round robin.
func New(name string, origins []*Origin, rt http.RoundTripper) *Pool {
	return &Pool{Name: name, Origins: origins, Transport: rt, Picker: NewRoundRobin(origins)}
}

// complete gives origins built as plain structs (tests, embedders) what
// NewOrigin would: live state, a hash seed and a weight of at least 1. The
// policies' constructors call it, before any concurrent use.
func complete(origins []*Origin) {
	for _, o := range origins {
		if o.State == nil {
			o.State = new(State)
			o.seed = xxhash.Sum64String(o.ID)
		}
		o.Weight = max(o.Weight, 1)
	}
}
