package pipeline

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"levee/internal/router"
)

// RequestIDHeader carries the request ID to the origin and back to the client.
const RequestIDHeader = "X-Request-Id"

// maxIncomingIDLength bounds a request ID accepted from a trusted proxy.
const maxIncomingIDLength = 128

// Trust decides whose forwarding headers are believed.
type Trust struct{ Prefixes []netip.Prefix }

// Contains reports whether a is a trusted proxy.
func (t *Trust) Contains(a netip.Addr) bool {
	for _, p := range t.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RequestID is the requestid phase: it keeps a trusted proxy's request ID
// and client address, and sends the ID back on the response.
func RequestID(trust *Trust) Phase {
	return func(next Handler) Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			ex := From(w)
			if ex.Peer.IsValid() && trust.Contains(ex.Peer) {
				ex.Trusted = true
				if id := r.Header.Get(RequestIDHeader); id != "" && len(id) <= maxIncomingIDLength && printable(id) {
					ex.ID = id
				}
				ex.Client = clientFromXFF(r.Header.Values("X-Forwarded-For"), trust, ex.Peer)
			}
			// One slice for both headers; len == cap, so no one appends into it.
			id := []string{ex.ID}
			r.Header[RequestIDHeader] = id
			w.Header()[RequestIDHeader] = id
			return next.ServeHTTP(w, r)
		})
	}
}

// clientFromXFF returns the rightmost address in X-Forwarded-For that is not
// a trusted proxy: the nearest address nobody we trust could have forged.
func clientFromXFF(values []string, trust *Trust, peer netip.Addr) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !trust.Contains(client) {
				return client
			}
		}
	}
	return client
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Limits is the limits phase: it bounds the request body and sets the
// deadline for reading it.
func Limits(maxBody int64, readBody time.Duration) Phase {
	return func(next Handler) Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.ContentLength > maxBody {
				return ErrBodyTooLarge
			}
			if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
				r.Body = &limitedBody{rc: r.Body, left: maxBody}
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readBody))
			}
			return next.ServeHTTP(w, r)
		})
	}
}

// Route is the route phase: it finds the site and route or answers 404.
func Route(table *router.Table) Phase {
	return func(next Handler) Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			ex := From(w)
			site := table.Site(r.Host)
			if site == nil {
				return Errorf(SourceClient, http.StatusNotFound, "no_site", "no site is configured for this host", nil)
			}
			ex.Site = site
			route := site.Route(r.URL.Path)
			if route == nil {
				return Errorf(SourceClient, http.StatusNotFound, "no_route", "no route matches this path", nil)
			}
			ex.Route = route
			return next.ServeHTTP(w, r)
		})
	}
}
