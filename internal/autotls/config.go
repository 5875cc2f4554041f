package autotls

import (
	"net/url"
	"strings"

	"levee/internal/config/schema"
)

// Config is the top-level auto_https: section: certificates from an ACME
// CA for the sites' host names, served on the listeners whose tls: block
// has auto: true.
type Config struct {
	// Enabled turns automatic HTTPS on. Default off.
	Enabled bool `yaml:"enabled,omitempty"`
	// CA is the ACME directory URL. Default: the public CA certmagic
	// uses (Let's Encrypt production).
	CA string `yaml:"ca,omitempty"`
	// CARoot is a PEM file trusted for the CA's own HTTPS, for a private
	// CA. Default: the system roots.
	CARoot string `yaml:"ca_root,omitempty"`
	// Email is the ACME account's contact. Optional.
	Email string `yaml:"email,omitempty"`
	// HTTPPort and HTTPSPort are the ports the CA reaches for HTTP-01 and
	// TLS-ALPN-01 and that redirects point to. Defaults 80 and 443.
	HTTPPort  int `yaml:"http_port,omitempty"`
	HTTPSPort int `yaml:"https_port,omitempty"`
	// Challenges are the ACME challenges used: http-01, tls-alpn-01,
	// dns-01 (names in the zones levee's own DNS serves, wildcards
	// included, are validated with it first). Default all three.
	Challenges []string `yaml:"challenges,omitempty"`
	// Names are host names managed besides the sites' own (the sites'
	// hosts that are real names are always managed).
	Names []string `yaml:"names,omitempty"`
	// OnDemand gets certificates at the first handshake for names not
	// in the config, behind a gate: never without one.
	OnDemand *OnDemandConfig `yaml:"on_demand,omitempty"`
}

// OnDemandConfig gates on-demand certificates. At least one of Allow and
// Ask is required.
type OnDemandConfig struct {
	// Allow lists names ("shop.example") and suffixes ("*.example")
	// allowed.
	Allow []string `yaml:"allow,omitempty"`
	// Ask is a URL asked with ?domain=NAME; a 200 allows the name.
	Ask string `yaml:"ask,omitempty"`
	// PerMinute bounds new on-demand certificates node-wide. Default 10.
	PerMinute int `yaml:"per_minute,omitempty"`
	// MaxNames bounds the on-demand names kept. Default 1000.
	MaxNames int `yaml:"max_names,omitempty"`
}

// Challenge names.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
	DNS01     = "dns-01"
)

// Defaults and bounds.
const (
	DefaultHTTPPort  = 80
	DefaultHTTPSPort = 443
	defaultPerMinute = 10
	defaultMaxNames  = 1000
	maxNames         = 10000
)

// SetDefaults fills unset keys.
func (c *Config) SetDefaults() {
	if c.HTTPPort == 0 {
		c.HTTPPort = DefaultHTTPPort
	}
	if c.HTTPSPort == 0 {
		c.HTTPSPort = DefaultHTTPSPort
	}
	if len(c.Challenges) == 0 {
		c.Challenges = []string{HTTP01, TLSALPN01, DNS01}
	}
	if od := c.OnDemand; od != nil {
		if od.PerMinute == 0 {
			od.PerMinute = defaultPerMinute
		}
		if od.MaxNames == 0 {
			od.MaxNames = defaultMaxNames
		}
	}
}

// Validate adds the section's errors to l. autoListeners is whether a
// listener asks for automatic certificates (tls.auto).
func (c *Config) Validate(l *schema.List, autoListeners bool) {
	if autoListeners && !c.Enabled {
		l.Add("auto_https.enabled", "a listener has tls.auto, so auto_https must be enabled")
	}
	if !c.Enabled {
		return
	}
	if c.CA != "" {
		if u, err := url.Parse(c.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			l.Add("auto_https.ca", "want an https:// ACME directory URL, got %q", c.CA)
		}
	}
	for _, p := range []struct {
		path string
		v    int
	}{{"auto_https.http_port", c.HTTPPort}, {"auto_https.https_port", c.HTTPSPort}} {
		if p.v < 1 || p.v > 65535 {
			l.Add(p.path, "must be a port, 1 to 65535, got %d", p.v)
		}
	}
	for _, ch := range c.Challenges {
		if !schema.OneOf(ch, HTTP01, TLSALPN01, DNS01) {
			l.Add("auto_https.challenges", "unknown challenge %q; want http-01, tls-alpn-01 or dns-01", ch)
		}
	}
	for _, n := range c.Names {
		if !realName(n) {
			l.Add("auto_https.names", "%q is not a host name a public CA can issue for", n)
		}
	}
	if od := c.OnDemand; od != nil {
		if len(od.Allow) == 0 && od.Ask == "" {
			l.Add("auto_https.on_demand", "needs allow or ask: on-demand certificates are never issued without a gate")
		}
		if od.Ask != "" {
			if u, err := url.Parse(od.Ask); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				l.Add("auto_https.on_demand.ask", "want an http(s) URL, got %q", od.Ask)
			}
		}
		if od.PerMinute < 1 || od.PerMinute > 1000 {
			l.Add("auto_https.on_demand.per_minute", "must be 1 to 1000, got %d", od.PerMinute)
		}
		if od.MaxNames < 1 || od.MaxNames > maxNames {
			l.Add("auto_https.on_demand.max_names", "must be 1 to %d, got %d", maxNames, od.MaxNames)
		}
	}
}

// realName reports whether host is a name an ACME CA can validate: a
// hostname with a dot, not an address, not a wildcard, not localhost.
func realName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !strings.Contains(host, ".") || strings.ContainsAny(host, "*:") || !schema.ValidHostname(host) {
		return false
	}
	if strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") {
		return false
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	return last != "" && (last[0] < '0' || last[0] > '9') // not an IPv4 address
}

// ManagedNames returns the names automatic HTTPS manages: the real names
// among the sites' hosts, and the configured extra names, lower-cased,
// without duplicates.
func ManagedNames(c *Config, siteHosts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range append(append([]string(nil), siteHosts...), c.Names...) {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		if realName(h) && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
