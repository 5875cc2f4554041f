package cache

import (
	"fmt"
	"levee/internal/config/schema"
	"path/filepath"
	"strconv"
	"time"
)

// Cache defaults and bounds. The README quotes them.
const (
	DefaultMemory        = 256 << 20
	DefaultDiskSize      = 10 << 30
	DefaultMaxObject     = 64 << 20
	DefaultLockTimeout   = 10 * time.Second
	DefaultHitForMiss    = 30 * time.Second
	DefaultGrace         = time.Hour
	DefaultFillTimeout   = 5 * time.Minute
	MinMemory            = 1 << 20
	MaxKeyHeaders        = 16
	MaxKeyParams         = 64
	MaxTTLOverrides      = 32
	MaxBypassConditions  = 32
	MaxLockTimeout       = time.Minute
	MaxGrace             = 30 * 24 * time.Hour
	MaxTTL               = 365 * 24 * time.Hour
	MaxMaxObjectAbsolute = 1 << 40
	// MinSlice and MaxSlice bound a route's slice size; MaxSlices bounds
	// how many slices one object may have (1 TiB at 1 MiB slices).
	MinSlice  = 1 << 10
	MaxSlice  = 64 << 20
	MaxSlices = 1 << 20
)

// Config is the top-level cache: section: where cached objects are
// kept. It is node-wide; which routes cache, and how, is each route's
// cache: block (RouteConfig). The store outlives reloads: a reload that
// changes sizes resizes it, and keeps what is stored.
type Config struct {
	// Memory is the memory tier's size in bytes (bodies plus headers).
	// Default 256MiB, at least 1MiB.
	Memory schema.Size `yaml:"memory"`
	// MemoryIndex is how the memory tier is kept: "levee" (default), a
	// pointer-free index with records outside the Go heap (about 133 bytes
	// and a few ms of full GC per 2 million small objects), or "otter",
	// the former tier (about 370 bytes and 200 ms or more of GC per 2
	// million). Changing it takes effect at the next restart.
	MemoryIndex string `yaml:"memory_index"`
	// Disk is the disk tier; off unless disk.path is set.
	Disk DiskConfig `yaml:"disk"`
	// MaxObjectSize is the largest body stored; larger ones stream through
	// uncached. Default 64MiB. A route may lower it.
	MaxObjectSize schema.Size `yaml:"max_object_size"`
	// LockTimeout bounds how long a request waits for another request's
	// fill of the same object before going to the origin itself.
	// Default 10s, at most 1m.
	LockTimeout schema.Duration `yaml:"lock_timeout"`
	// HitForMiss is how long a URL whose response could not be stored is
	// remembered, so its requests go to the origin in parallel instead of
	// queueing behind one fill. Default 30s.
	HitForMiss schema.Duration `yaml:"hit_for_miss"`
	// FillTimeout bounds one fill (headers and body) from the origin, since
	// a fill keeps running when the client that started it goes away.
	// Default 5m.
	FillTimeout schema.Duration `yaml:"fill_timeout"`
}

// DiskConfig is the disk tier.
type DiskConfig struct {
	// Path is a directory for cached objects; it is created if missing.
	// Default empty: no disk tier. Danger: give levee its own directory;
	// files named like its entries (16 hex digits) that fail their checks,
	// and ".tmp-*" files, are deleted at start.
	Path string `yaml:"path"`
	// MaxSize bounds the bytes of the files in Path. Default 10GiB.
	MaxSize schema.Size `yaml:"max_size"`
}

// RouteConfig turns caching on for a route and sets its rules. A route
// without a cache: block is not cached.
type RouteConfig struct {
	// Enabled turns the cache off for this route when false. Default true.
	Enabled *bool `yaml:"enabled"`
	// Key is how requests map to cached objects.
	Key KeyConfig `yaml:"key"`
	// DefaultTTL is the freshness given to storable responses that carry
	// none (no max-age, s-maxage or Expires) before heuristics apply.
	// Default 0: off, as RFC 9111 asks.
	DefaultTTL schema.Duration `yaml:"default_ttl"`
	// TTL overrides the origin's freshness for responses with the given
	// status code ("200", "404"): the response is stored for that long
	// unless it is no-store or private. Default none.
	TTL map[string]schema.Duration `yaml:"ttl"`
	// Grace is the "always online" window: when the origin fails (5xx,
	// refused, timeout) a stale object is served for this long past its
	// freshness, even if the origin did not send stale-if-error. It never
	// applies to must-revalidate or no-cache responses. Default 1h; "0s"
	// turns it off.
	Grace *schema.Duration `yaml:"grace"`
	// Bypass sends requests matching any condition straight to the origin.
	Bypass BypassConfig `yaml:"bypass"`
	// MaxObjectSize lowers the node's cache.max_object_size for this route.
	MaxObjectSize schema.Size `yaml:"max_object_size"`
	// StoreSetCookie stores responses that carry Set-Cookie, with the
	// Set-Cookie header removed from the stored copy. Default false: such
	// responses are not stored. Danger: only for origins that set cookies
	// nobody else may see harmlessly.
	StoreSetCookie bool `yaml:"store_set_cookie"`
	// Slice, when set, caches the route's objects in aligned pieces of this
	// many bytes: a miss asks the origin for "Range: bytes=a-b" of the
	// pieces the request needs and stores each 206 as its own entry, so a
	// player seeking in a large video costs the origin only what it
	// plays. Default 0: off (whole objects). 1KiB to 64MiB; 1MiB-4MiB suit
	// video. Danger: the origin must answer ranges with one ETag or
	// Last-Modified per version; small objects cost one range request each.
	Slice schema.Size `yaml:"slice"`
}

// KeyConfig chooses what makes two requests the same object.
type KeyConfig struct {
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

// BypassConfig lists conditions under which a request is not cached.
type BypassConfig struct {
	// Headers: the request carries one of these headers.
	Headers []string `yaml:"headers"`
	// Cookies: the request carries one of these cookies.
	Cookies []string `yaml:"cookies"`
	// Params: the query string carries one of these parameters.
	Params []string `yaml:"params"`
}

// On reports whether the route caches.
func (rc *RouteConfig) On() bool { return rc != nil && (rc.Enabled == nil || *rc.Enabled) }

// GraceOrDefault returns the always-online grace.
func (rc *RouteConfig) GraceOrDefault() time.Duration {
	if rc.Grace == nil {
		return DefaultGrace
	}
	return rc.Grace.D()
}

// SetDefaults fills the unset fields of the cache: section.
func (cc *Config) SetDefaults() {
	if cc.Memory == 0 {
		cc.Memory = DefaultMemory
	}
	if cc.MemoryIndex == "" {
		cc.MemoryIndex = MemoryIndexLevee
	}
	if cc.Disk.MaxSize == 0 {
		cc.Disk.MaxSize = DefaultDiskSize
	}
	if cc.MaxObjectSize == 0 {
		cc.MaxObjectSize = DefaultMaxObject
	}
	schema.SetDuration(&cc.LockTimeout, DefaultLockTimeout)
	schema.SetDuration(&cc.HitForMiss, DefaultHitForMiss)
	schema.SetDuration(&cc.FillTimeout, DefaultFillTimeout)
}

// SetDefaults fills the unset fields of a route's cache: block.
func (rc *RouteConfig) SetDefaults() {
	if rc.Key.Query == "" {
		rc.Key.Query = "keep"
	}
}

// Validate checks the cache: section against its bounds.
func (cc *Config) Validate(l *schema.List) {
	if cc.Memory < MinMemory {
		l.Add("cache.memory", "%d bytes is under the minimum of %d", cc.Memory, MinMemory)
	}
	if cc.MemoryIndex != MemoryIndexLevee && cc.MemoryIndex != MemoryIndexOtter {
		l.Add("cache.memory_index", "%q: want %s or %s", cc.MemoryIndex, MemoryIndexLevee, MemoryIndexOtter)
	}
	if cc.Disk.Path != "" && !filepath.IsAbs(cc.Disk.Path) {
		l.Add("cache.disk.path", "%q must be an absolute path", cc.Disk.Path)
	}
	if cc.MaxObjectSize > MaxMaxObjectAbsolute {
		l.Add("cache.max_object_size", "over the limit of %d", int64(MaxMaxObjectAbsolute))
	}
	if cc.LockTimeout.D() > MaxLockTimeout {
		l.Add("cache.lock_timeout", "over the limit of %s", MaxLockTimeout)
	}
}

// Validate checks a route's cache: block; p is its path in the config.
func (rc *RouteConfig) Validate(l *schema.List, p string) {
	switch rc.Key.Query {
	case "keep", "sort", "ignore":
	default:
		l.Add(p+".key.query", "%q: want keep, sort or ignore", rc.Key.Query)
	}
	checkNames(l, p+".key.headers", rc.Key.Headers, MaxKeyHeaders, true)
	checkNames(l, p+".key.cookies", rc.Key.Cookies, MaxKeyHeaders, false)
	checkNames(l, p+".key.drop_params", rc.Key.DropParams, MaxKeyParams, false)
	checkNames(l, p+".bypass.headers", rc.Bypass.Headers, MaxBypassConditions, true)
	checkNames(l, p+".bypass.cookies", rc.Bypass.Cookies, MaxBypassConditions, false)
	checkNames(l, p+".bypass.params", rc.Bypass.Params, MaxBypassConditions, false)
	if len(rc.TTL) > MaxTTLOverrides {
		l.Add(p+".ttl", "%d overrides, over the limit of %d", len(rc.TTL), MaxTTLOverrides)
	}
	for k, v := range rc.TTL {
		if n, err := strconv.Atoi(k); err != nil || n < 100 || n > 599 {
			l.Add(p+".ttl."+k, "%q is not a status code", k)
		}
		if v.D() > MaxTTL {
			l.Add(p+".ttl."+k, "over the limit of %s", MaxTTL)
		}
	}
	if rc.DefaultTTL.D() > MaxTTL {
		l.Add(p+".default_ttl", "over the limit of %s", MaxTTL)
	}
	if rc.Slice != 0 && (rc.Slice < MinSlice || rc.Slice > MaxSlice) {
		l.Add(p+".slice", "%d bytes: want 0 (off) or %d to %d", int64(rc.Slice), MinSlice, MaxSlice)
	} else if rc.MaxObjectSize > 0 && rc.Slice > rc.MaxObjectSize {
		l.Add(p+".slice", "%d bytes is over the route's max_object_size %d", int64(rc.Slice), int64(rc.MaxObjectSize))
	}
	if rc.Grace != nil && rc.Grace.D() > MaxGrace {
		l.Add(p+".grace", "over the limit of %s", MaxGrace)
	}
}

func checkNames(l *schema.List, p string, names []string, max int, header bool) {
	if len(names) > max {
		l.Add(p, "%d entries, over the limit of %d", len(names), max)
		return
	}
	for i, n := range names {
		if n == "" || len(n) > schema.MaxNameLength {
			l.Add(fmt.Sprintf("%s[%d]", p, i), "empty or longer than %d", schema.MaxNameLength)
		} else if header && !schema.IsToken(n) {
			l.Add(fmt.Sprintf("%s[%d]", p, i), "%q is not a header name", n)
		}
	}
}
