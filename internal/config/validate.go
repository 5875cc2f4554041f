package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Validate checks a defaulted config against every rule and bound and
// returns all problems found. It is pure: no file is opened, nothing dialled.
func Validate(c *Config) Errors {
	var l errorList
	validateAdmin(&l, c)
	validateListeners(&l, c.Listeners)
	validateLimits(&l, c)
	validateTrusted(&l, c.TrustedProxies)
	names := validatePools(&l, c.Pools)
	validateSites(&l, c.Sites, names)
	validateCapabilities(&l, c)
	if c.Log.Level != "" && !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		l.add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	return l.errs
}

func validateAdmin(l *errorList, c *Config) {
	if c.Admin.Listen != "off" {
		checkHostPort(l, "admin.listen", c.Admin.Listen)
	}
}

func validateListeners(l *errorList, ls []Listener) {
	if len(ls) == 0 {
		l.add("listeners", "at least one listener is required")
	}
	if len(ls) > MaxListeners {
		l.add("listeners", "%d listeners, over the limit of %d", len(ls), MaxListeners)
		return
	}
	seen := map[string]int{}
	for i, ln := range ls {
		p := fmt.Sprintf("listeners[%d]", i)
		checkHostPort(l, p+".listen", ln.Listen)
		if j, dup := seen[ln.Listen]; dup {
			l.add(p+".listen", "%q is also listeners[%d]", ln.Listen, j)
		}
		seen[ln.Listen] = i
		validateTLS(l, p+".tls", ln.TLS)
		if !oneOf(ln.HTTP1, "levee", "net/http") {
			l.add(p+".http1", "must be \"levee\" or \"net/http\"")
		}
		if ln.HTTP2.MaxConcurrentStreams < 1 || ln.HTTP2.MaxConcurrentStreams > 10000 {
			l.add(p+".http2.max_concurrent_streams", "must be 1 to 10000")
		}
		if ln.HTTP2.MaxReadFrameSize < 16<<10 || ln.HTTP2.MaxReadFrameSize > 16<<20-1 {
			l.add(p+".http2.max_read_frame_size", "must be 16KiB to 16MiB-1")
		}
	}
}

func validateTLS(l *errorList, p string, t *TLS) {
	if t == nil {
		return
	}
	if len(t.Certificates) == 0 {
		l.add(p+".certificates", "tls needs at least one certificate")
	}
	if len(t.Certificates) > MaxCertificates {
		l.add(p+".certificates", "%d certificates, over the limit of %d", len(t.Certificates), MaxCertificates)
	}
	for i, c := range t.Certificates {
		if c.Cert == "" || c.Key == "" {
			l.add(fmt.Sprintf("%s.certificates[%d]", p, i), "cert and key are both required")
		}
	}
	if !oneOf(t.MinVersion, "1.2", "1.3") {
		l.add(p+".min_version", "must be \"1.2\" or \"1.3\"")
	}
}

func validateLimits(l *errorList, c *Config) {
	if c.Limits.MaxHeaderBytes < 1024 || c.Limits.MaxHeaderBytes > MaxHeaderBytesLimit {
		l.add("limits.max_header_bytes", "must be 1KiB to 1MiB, not %d", c.Limits.MaxHeaderBytes)
	}
	if c.Limits.MaxRequestBody < 0 {
		l.add("limits.max_request_body", "must not be negative")
	}
}

func validateTrusted(l *errorList, ps []string) {
	if len(ps) > MaxTrustedProxies {
		l.add("trusted_proxies", "%d entries, over the limit of %d", len(ps), MaxTrustedProxies)
		return
	}
	for i, s := range ps {
		if _, err := ParsePrefix(s); err != nil {
			l.add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
}

// ParsePrefix accepts an address ("10.0.0.1") or a CIDR ("10.0.0.0/8").
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("bad CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func validatePools(l *errorList, pools []Pool) map[string]bool {
	names := map[string]bool{}
	if len(pools) > MaxPools {
		l.add("pools", "%d pools, over the limit of %d", len(pools), MaxPools)
		return names
	}
	for i, p := range pools {
		path := fmt.Sprintf("pools[%d]", i)
		checkName(l, path+".name", p.Name)
		if names[p.Name] {
			l.add(path+".name", "pool %q is defined twice", p.Name)
		}
		names[p.Name] = true
		if len(p.Origins) == 0 {
			l.add(path+".origins", "a pool needs at least one origin")
		}
		validatePoolSpec(l, path, &p.PoolSpec)
	}
	return names
}

func validatePoolSpec(l *errorList, path string, p *PoolSpec) {
	if len(p.Origins) > MaxOriginsPerPool {
		l.add(path+".origins", "%d origins, over the limit of %d", len(p.Origins), MaxOriginsPerPool)
		return
	}
	for i, o := range p.Origins {
		op := fmt.Sprintf("%s.origins[%d]", path, i)
		checkOriginURL(l, op+".url", o.URL)
		if o.Weight < 1 || o.Weight > 1000 {
			l.add(op+".weight", "must be 1 to 1000, not %d", o.Weight)
		}
	}
	if !oneOf(p.Protocol, "http1", "h2") {
		l.add(path+".protocol", "must be http1 or h2, not %q", p.Protocol)
	}
	if p.MaxIdlePerOrigin < 1 || p.MaxIdlePerOrigin > MaxIdlePerOriginCap {
		l.add(path+".max_idle_per_origin", "must be 1 to %d", MaxIdlePerOriginCap)
	}
	if idle := p.Timeouts.Idle.D(); idle < 0 || idle > MaxOriginIdleSeconds*time.Second {
		l.add(path+".timeouts.idle", "must be at most %ds, not %v", MaxOriginIdleSeconds, idle)
	}
	t := p.OriginTLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		l.add(path+".origin_tls", "cert_file and key_file go together")
	}
}

func checkOriginURL(l *errorList, path, raw string) {
	if raw == "" {
		l.add(path, "an origin needs a url")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		l.add(path, "not a URL: %v", err)
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		l.add(path, "scheme must be http or https, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		l.add(path, "%q has no host", raw)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		l.add(path, "%q must be scheme://host[:port] only (no path, query or user)", raw)
	}
}

func checkHostPort(l *errorList, path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		l.add(path, "want host:port, got %q", addr)
		return
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		l.add(path, "bad host %q", host)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		l.add(path, "bad port %q", port)
	}
}

func checkName(l *errorList, path, name string) {
	if name == "" {
		l.add(path, "a name is required")
		return
	}
	if len(name) > MaxNameLength {
		l.add(path, "name is %d bytes, over the limit of %d", len(name), MaxNameLength)
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			l.add(path, "name %q may hold only letters, digits, '-', '_' and '.'", name)
			return
		}
	}
}

func oneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if s == o {
			return true
		}
	}
	return false
}
