package autotls

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"levee/internal/pipeline"
)

const challengePrefix = "/.well-known/acme-challenge/"

// phase is the acme phase, before route: it answers HTTP-01 challenges
// (for any host: on-demand names have no site), and sends cleartext
// requests for managed names to HTTPS, or, while the name has no
// certificate yet, answers a clear 503 instead of a redirect to a
// handshake that would fail.
func (m *manager) phase(c *Capability) pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.TLS != nil {
				return next.ServeHTTP(w, r)
			}
			if strings.HasPrefix(r.URL.Path, challengePrefix) && m.issuer.HandleHTTPChallenge(w, r) {
				if ex := pipeline.From(w); ex != nil {
					ex.Decide("challenge")
				}
				return nil
			}
			host := hostOnly(r.Host)
			if !m.managed[host] {
				return next.ServeHTTP(w, r)
			}
			if !c.hasCertificate(host) {
				return pipeline.Errorf(pipeline.SourceInternal, http.StatusServiceUnavailable, "no_certificate",
					"this site's TLS certificate is not ready yet; levee keeps trying (see /status on the admin API)", nil)
			}
			http.Redirect(w, r, m.httpsURL(host, r), http.StatusPermanentRedirect)
			return nil
		})
	}
}

func (m *manager) httpsURL(host string, r *http.Request) string {
	if m.httpsPort != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(m.httpsPort))
	}
	return "https://" + host + r.URL.RequestURI()
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}
