package config

import (
	"fmt"
	"levee/internal/config/schema"
	"net/url"
	"time"
)

// Validate checks a defaulted config against every rule and bound and
// returns all problems found. It is pure: no file is opened, nothing dialled.
func Validate(c *Config) Errors {
	var l schema.List
	validateAdmin(&l, c)
	validateListeners(&l, c.Listeners)
	validateLimits(&l, c)
	validateTrusted(&l, c.TrustedProxies)
	names := validatePools(&l, c.Pools)
	validateSites(&l, c.Sites, names)
	validateCapabilities(&l, c)
	if c.Log.Level != "" && !schema.OneOf(c.Log.Level, "debug", "info", "warn", "error") {
		l.Add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	return l.Errs
}

func validateAdmin(l *schema.List, c *Config) {
	if c.Admin.Listen != "off" {
		schema.CheckHostPort(l, "admin.listen", c.Admin.Listen)
	}
}

func validateListeners(l *schema.List, ls []Listener) {
	if len(ls) == 0 {
		l.Add("listeners", "at least one listener is required")
	}
	if len(ls) > MaxListeners {
		l.Add("listeners", "%d listeners, over the limit of %d", len(ls), MaxListeners)
		return
	}
	seen := map[string]int{}
	for i, ln := range ls {
		p := fmt.Sprintf("listeners[%d]", i)
		schema.CheckHostPort(l, p+".listen", ln.Listen)
		if j, dup := seen[ln.Listen]; dup {
			l.Add(p+".listen", "%q is also listeners[%d]", ln.Listen, j)
		}
		seen[ln.Listen] = i
		validateTLS(l, p+".tls", ln.TLS)
		if ln.HTTP3 && ln.TLS == nil {
			l.Add(p+".http3", "HTTP/3 needs TLS: add a tls: block")
		}
		if !schema.OneOf(ln.HTTP1, "levee", "net/http") {
			l.Add(p+".http1", "must be \"levee\" or \"net/http\"")
		}
		if ln.HTTP2.MaxConcurrentStreams < 1 || ln.HTTP2.MaxConcurrentStreams > 10000 {
			l.Add(p+".http2.max_concurrent_streams", "must be 1 to 10000")
		}
		if ln.HTTP2.MaxReadFrameSize < 16<<10 || ln.HTTP2.MaxReadFrameSize > 16<<20-1 {
			l.Add(p+".http2.max_read_frame_size", "must be 16KiB to 16MiB-1")
		}
		if !schema.OneOf(ln.HTTP2.Server, "levee", "go") {
			l.Add(p+".http2.server", "must be \"levee\" or \"go\"")
		}
	}
}

func validateTLS(l *schema.List, p string, t *TLS) {
	if t == nil {
		return
	}
	if len(t.Certificates) == 0 && !t.Auto {
		l.Add(p+".certificates", "tls needs at least one certificate, or auto: true")
	}
	if len(t.Certificates) > MaxCertificates {
		l.Add(p+".certificates", "%d certificates, over the limit of %d", len(t.Certificates), MaxCertificates)
	}
	for i, c := range t.Certificates {
		if c.Cert == "" || c.Key == "" {
			l.Add(fmt.Sprintf("%s.certificates[%d]", p, i), "cert and key are both required")
		}
	}
	if !schema.OneOf(t.MinVersion, "1.2", "1.3") {
		l.Add(p+".min_version", "must be \"1.2\" or \"1.3\"")
	}
}

func validateLimits(l *schema.List, c *Config) {
	if c.Limits.MaxHeaderBytes < 1024 || c.Limits.MaxHeaderBytes > MaxHeaderBytesLimit {
		l.Add("limits.max_header_bytes", "must be 1KiB to 1MiB, not %d", c.Limits.MaxHeaderBytes)
	}
	if c.Limits.MaxRequestBody < 0 {
		l.Add("limits.max_request_body", "must not be negative")
	}
}

func validateTrusted(l *schema.List, ps []string) {
	if len(ps) > MaxTrustedProxies {
		l.Add("trusted_proxies", "%d entries, over the limit of %d", len(ps), MaxTrustedProxies)
		return
	}
	for i, s := range ps {
		if _, err := schema.ParsePrefix(s); err != nil {
			l.Add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
}

func validatePools(l *schema.List, pools []Pool) map[string]bool {
	names := map[string]bool{}
	if len(pools) > MaxPools {
		l.Add("pools", "%d pools, over the limit of %d", len(pools), MaxPools)
		return names
	}
	for i, p := range pools {
		path := fmt.Sprintf("pools[%d]", i)
		schema.CheckName(l, path+".name", p.Name)
		if names[p.Name] {
			l.Add(path+".name", "pool %q is defined twice", p.Name)
		}
		names[p.Name] = true
		if len(p.Origins) == 0 {
			l.Add(path+".origins", "a pool needs at least one origin")
		}
		validatePoolSpec(l, path, &p.PoolSpec)
	}
	return names
}

func validatePoolSpec(l *schema.List, path string, p *PoolSpec) {
	if len(p.Origins) > MaxOriginsPerPool {
		l.Add(path+".origins", "%d origins, over the limit of %d", len(p.Origins), MaxOriginsPerPool)
		return
	}
	for i, o := range p.Origins {
		op := fmt.Sprintf("%s.origins[%d]", path, i)
		checkOriginURL(l, op+".url", o.URL)
		if o.Weight < 1 || o.Weight > 1000 {
			l.Add(op+".weight", "must be 1 to 1000, not %d", o.Weight)
		}
	}
	if !schema.OneOf(p.Protocol, "http1", "h2") {
		l.Add(path+".protocol", "must be http1 or h2, not %q", p.Protocol)
	}
	if p.MaxIdlePerOrigin < 1 || p.MaxIdlePerOrigin > MaxIdlePerOriginCap {
		l.Add(path+".max_idle_per_origin", "must be 1 to %d", MaxIdlePerOriginCap)
	}
	if idle := p.Timeouts.Idle.D(); idle < 0 || idle > MaxOriginIdleSeconds*time.Second {
		l.Add(path+".timeouts.idle", "must be at most %ds, not %v", MaxOriginIdleSeconds, idle)
	}
	t := p.OriginTLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		l.Add(path+".origin_tls", "cert_file and key_file go together")
	}
}

func checkOriginURL(l *schema.List, path, raw string) {
	if raw == "" {
		l.Add(path, "an origin needs a url")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		l.Add(path, "%q is not a URL: write it as http://host:port or https://host:port", raw)
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		l.Add(path, "scheme must be http or https, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		l.Add(path, "%q has no host", raw)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		l.Add(path, "%q must be scheme://host[:port] only (no path, query or user)", raw)
	}
}
