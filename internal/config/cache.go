package config

import (
	"fmt"
	"levee/internal/config/schema"
	"path/filepath"
	"strconv"
	"time"
)

// Cache defaults and bounds. The cache package README quotes them.
const (
	DefaultCacheMemory        = 256 << 20
	DefaultCacheDiskSize      = 10 << 30
	DefaultCacheMaxObject     = 64 << 20
	DefaultCacheLockTimeout   = 10 * time.Second
	DefaultCacheHitForMiss    = 30 * time.Second
	DefaultCacheGrace         = time.Hour
	DefaultCacheFillTimeout   = 5 * time.Minute
	MinCacheMemory            = 1 << 20
	MaxCacheKeyHeaders        = 16
	MaxCacheKeyParams         = 64
	MaxCacheTTLOverrides      = 32
	MaxCacheBypassConditions  = 32
	MaxCacheLockTimeout       = time.Minute
	MaxCacheGrace             = 30 * 24 * time.Hour
	MaxCacheTTL               = 365 * 24 * time.Hour
	MaxCacheMaxObjectAbsolute = 1 << 40
)

// CacheConfig is the top-level cache: section: where cached objects are
// kept. It is node-wide; which routes cache, and how, is each route's
// cache: block (RouteCache). The store outlives reloads: a reload that
// changes sizes resizes it, and keeps what is stored.
type CacheConfig struct {
	// Memory is the memory tier's size in bytes (bodies plus headers).
	// Default 256MiB, at least 1MiB.
	Memory Size `yaml:"memory"`
	// Disk is the disk tier; off unless disk.path is set.
	Disk CacheDisk `yaml:"disk"`
	// MaxObjectSize is the largest body stored; larger ones stream through
	// uncached. Default 64MiB. A route may lower it.
	MaxObjectSize Size `yaml:"max_object_size"`
	// LockTimeout bounds how long a request waits for another request's
	// fill of the same object before going to the origin itself.
	// Default 10s, at most 1m.
	LockTimeout Duration `yaml:"lock_timeout"`
	// HitForMiss is how long a URL whose response could not be stored is
	// remembered, so its requests go to the origin in parallel instead of
	// queueing behind one fill. Default 30s.
	HitForMiss Duration `yaml:"hit_for_miss"`
	// FillTimeout bounds one fill (headers and body) from the origin, since
	// a fill keeps running when the client that started it goes away.
	// Default 5m.
	FillTimeout Duration `yaml:"fill_timeout"`
}

// CacheDisk is the disk tier.
type CacheDisk struct {
	// Path is a directory for cached objects; it is created if missing.
	// Default empty: no disk tier. Danger: give levee its own directory;
	// files named like its entries (16 hex digits) that fail their checks,
	// and ".tmp-*" files, are deleted at start.
	Path string `yaml:"path"`
	// MaxSize bounds the bytes of the files in Path. Default 10GiB.
	MaxSize Size `yaml:"max_size"`
}

// RouteCache turns caching on for a route and sets its rules. A route
// without a cache: block is not cached.
type RouteCache struct {
	// Enabled turns the cache off for this route when false. Default true.
	Enabled *bool `yaml:"enabled"`
	// Key is how requests map to cached objects.
	Key CacheKey `yaml:"key"`
	// DefaultTTL is the freshness given to storable responses that carry
	// none (no max-age, s-maxage or Expires) before heuristics apply.
	// Default 0: off, as RFC 9111 asks.
	DefaultTTL Duration `yaml:"default_ttl"`
	// TTL overrides the origin's freshness for responses with the given
	// status code ("200", "404"): the response is stored for that long
	// unless it is no-store or private. Default none.
	TTL map[string]Duration `yaml:"ttl"`
	// Grace is the "always online" window: when the origin fails (5xx,
	// refused, timeout) a stale object is served for this long past its
	// freshness, even if the origin did not send stale-if-error. It never
	// applies to must-revalidate or no-cache responses. Default 1h; "0s"
	// turns it off.
	Grace *Duration `yaml:"grace"`
	// Bypass sends requests matching any condition straight to the origin.
	Bypass CacheBypass `yaml:"bypass"`
	// MaxObjectSize lowers the node's cache.max_object_size for this route.
	MaxObjectSize Size `yaml:"max_object_size"`
	// StoreSetCookie stores responses that carry Set-Cookie, with the
	// Set-Cookie header removed from the stored copy. Default false: such
	// responses are not stored. Danger: only for origins that set cookies
	// nobody else may see harmlessly.
	StoreSetCookie bool `yaml:"store_set_cookie"`
}

// CacheKey chooses what makes two requests the same object.
type CacheKey struct {
	// IgnoreHost leaves the Host out of the key. Default false.
	IgnoreHost bool `yaml:"ignore_host"`
	// Query is "keep" (default: as sent), "sort" (parameters sorted) or
	// "ignore" (left out).
	Query string `yaml:"query"`
	// DropParams are query parameters left out of the key (utm_source...).
	DropParams []string `yaml:"drop_params"`
	// Headers are request headers added to the key.
	Headers []string `yaml:"headers"`
	// Cookies are request cookies added to the key.
	Cookies []string `yaml:"cookies"`
}

// CacheBypass lists conditions under which a request is not cached.
type CacheBypass struct {
	// Headers: the request carries one of these headers.
	Headers []string `yaml:"headers"`
	// Cookies: the request carries one of these cookies.
	Cookies []string `yaml:"cookies"`
	// Params: the query string carries one of these parameters.
	Params []string `yaml:"params"`
}

// On reports whether the route caches.
func (rc *RouteCache) On() bool { return rc != nil && (rc.Enabled == nil || *rc.Enabled) }

// GraceOrDefault returns the always-online grace.
func (rc *RouteCache) GraceOrDefault() time.Duration {
	if rc.Grace == nil {
		return DefaultCacheGrace
	}
	return rc.Grace.D()
}

func setCacheDefaults(c *Config) {
	cc := &c.Cache
	if cc.Memory == 0 {
		cc.Memory = DefaultCacheMemory
	}
	if cc.Disk.MaxSize == 0 {
		cc.Disk.MaxSize = DefaultCacheDiskSize
	}
	if cc.MaxObjectSize == 0 {
		cc.MaxObjectSize = DefaultCacheMaxObject
	}
	schema.SetDuration(&cc.LockTimeout, DefaultCacheLockTimeout)
	schema.SetDuration(&cc.HitForMiss, DefaultCacheHitForMiss)
	schema.SetDuration(&cc.FillTimeout, DefaultCacheFillTimeout)
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			if rc := c.Sites[i].Routes[j].Cache; rc != nil && rc.Key.Query == "" {
				rc.Key.Query = "keep"
			}
		}
	}
}

func validateCache(l *schema.List, c *Config) {
	cc := &c.Cache
	if cc.Memory < MinCacheMemory {
		l.Add("cache.memory", "%d bytes is under the minimum of %d", cc.Memory, MinCacheMemory)
	}
	if cc.Disk.Path != "" && !filepath.IsAbs(cc.Disk.Path) {
		l.Add("cache.disk.path", "%q must be an absolute path", cc.Disk.Path)
	}
	if cc.MaxObjectSize > MaxCacheMaxObjectAbsolute {
		l.Add("cache.max_object_size", "over the limit of %d", int64(MaxCacheMaxObjectAbsolute))
	}
	if cc.LockTimeout.D() > MaxCacheLockTimeout {
		l.Add("cache.lock_timeout", "over the limit of %s", MaxCacheLockTimeout)
	}
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			if rc := c.Sites[i].Routes[j].Cache; rc != nil {
				validateRouteCache(l, fmt.Sprintf("sites[%d].routes[%d].cache", i, j), rc)
			}
		}
	}
}

func validateRouteCache(l *schema.List, p string, rc *RouteCache) {
	switch rc.Key.Query {
	case "keep", "sort", "ignore":
	default:
		l.Add(p+".key.query", "%q: want keep, sort or ignore", rc.Key.Query)
	}
	checkNames(l, p+".key.headers", rc.Key.Headers, MaxCacheKeyHeaders, true)
	checkNames(l, p+".key.cookies", rc.Key.Cookies, MaxCacheKeyHeaders, false)
	checkNames(l, p+".key.drop_params", rc.Key.DropParams, MaxCacheKeyParams, false)
	checkNames(l, p+".bypass.headers", rc.Bypass.Headers, MaxCacheBypassConditions, true)
	checkNames(l, p+".bypass.cookies", rc.Bypass.Cookies, MaxCacheBypassConditions, false)
	checkNames(l, p+".bypass.params", rc.Bypass.Params, MaxCacheBypassConditions, false)
	if len(rc.TTL) > MaxCacheTTLOverrides {
		l.Add(p+".ttl", "%d overrides, over the limit of %d", len(rc.TTL), MaxCacheTTLOverrides)
	}
	for k, v := range rc.TTL {
		if n, err := strconv.Atoi(k); err != nil || n < 100 || n > 599 {
			l.Add(p+".ttl."+k, "%q is not a status code", k)
		}
		if v.D() > MaxCacheTTL {
			l.Add(p+".ttl."+k, "over the limit of %s", MaxCacheTTL)
		}
	}
	if rc.DefaultTTL.D() > MaxCacheTTL {
		l.Add(p+".default_ttl", "over the limit of %s", MaxCacheTTL)
	}
	if rc.Grace != nil && rc.Grace.D() > MaxCacheGrace {
		l.Add(p+".grace", "over the limit of %s", MaxCacheGrace)
	}
}

func checkNames(l *schema.List, p string, names []string, max int, header bool) {
	if len(names) > max {
		l.Add(p, "%d entries, over the limit of %d", len(names), max)
		return
	}
	for i, n := range names {
		if n == "" || len(n) > MaxNameLength {
			l.Add(fmt.Sprintf("%s[%d]", p, i), "empty or longer than %d", MaxNameLength)
		} else if header && !schema.IsToken(n) {
			l.Add(fmt.Sprintf("%s[%d]", p, i), "%q is not a header name", n)
		}
	}
}
