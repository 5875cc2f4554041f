package pipeline

import "fmt"

// Order is the order of the request phases, outermost first. A phase sees
// the effects of the phases after it (inner) and must not care about those
// before it. The wall and access log are not phases: they wrap the chain
// (wall.go).
//
//	requestid  assign the request ID; client address from trusted proxies
//	limits     request body limits and body read deadline
//	acme       answer ACME HTTP-01 challenges; send cleartext requests
//	           for automatically certified names to HTTPS (before route:
//	           on-demand names have no site)
//	route      match site by Host and route by path (404 if none)
//	fault      test-only fault injection (never set from config)
//	shield     rate limits, admission, waiting room
//	bots       bot score, action by score band, proof-of-work challenge
//	waf        Core Rule Set and custom rules, under a time budget
//	compress   gzip/br/zstd by Accept-Encoding, around the cache: the
//	           cache stores and serves identity bodies, and every answer
//	           (hit or miss) is encoded on the way out
//	cache      cache lookup, fill and store
//	tier       a fill asks the object's upper-tier node of the cluster
//	           before the origin (internal/cluster); after cache, since
//	           only fills go up
//	proxy      pick an origin, round trip, stream the response (terminal)
var Order = []string{"requestid", "limits", "acme", "route", "fault", "shield", "bots", "waf", "compress", "cache", "tier", "proxy"}

// ConnOrder is the order of the connection-level hooks, which run before
// any request phase (internal/listener Hooks):
//
//	admit      at accept, before a byte is read: the shield's connection
//	           gate (per-IP and total limits, deny list, PROXY protocol)
//	tls        the handshake, certificate by SNI (TLS listeners); the
//	           ClientHello's fingerprint (bots' JA4) for the requests
//	server     levee's HTTP/1 server, or net/http for what it declines,
//	           h2 and TLS
//	wrap       around each server's handler: the shield's HTTP/2 reset
//	           guard, fed by the ConnContext it returns
//
// After wrap comes the request chain in Order, behind the panic wall.
var ConnOrder = []string{"admit", "tls", "server", "wrap"}

// Build composes phases in Order around terminal. Phases absent from the map
// are skipped; a name that is not in Order is a programming error.
func Build(phases map[string]Phase, terminal Handler) (Handler, error) {
	known := map[string]bool{}
	for _, n := range Order {
		known[n] = true
	}
	for n := range phases {
		if !known[n] {
			return nil, fmt.Errorf("pipeline: unknown phase %q", n)
		}
	}
	h := Handler(named{name: "proxy", next: terminal})
	for i := len(Order) - 1; i >= 0; i-- {
		if p, ok := phases[Order[i]]; ok && p != nil {
			h = named{name: Order[i], next: p(h)}
		}
	}
	return h, nil
}
