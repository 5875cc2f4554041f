package config

import (
	"fmt"
	"levee/internal/config/schema"
	"time"
)

// HealthConfig is the top-level health: section: node-wide retry policy.
type HealthConfig struct {
	// RetryBudget bounds retries across the node so they cannot multiply an
	// outage.
	RetryBudget RetryBudget `yaml:"retry_budget,omitempty"`
}

// RetryBudget is a token bucket: every client request adds Ratio of a
// token, every retry that sends a request to an origin again takes one.
type RetryBudget struct {
	// Ratio is the extra load retries may add, 0 to 1. Default 0.2 (20%).
	Ratio *float64 `yaml:"ratio,omitempty"`
	// MinPerSecond retries are always allowed, so a quiet node still
	// retries. Default 10; 0 turns the floor off.
	MinPerSecond *int `yaml:"min_per_second,omitempty"`
}

// Balance chooses the policy that picks an origin in a pool.
type Balance struct {
	// Policy is round_robin (default, weighted), least_outstanding (power
	// of two choices), ewma (latency-aware), hash (rendezvous on HashOn) or
	// cookie (sticky sessions).
	Policy string `yaml:"policy,omitempty"`
	// HashOn is the hash policy's key: path (default), uri, client_ip,
	// header:NAME, cookie:NAME or query:NAME.
	HashOn string `yaml:"hash_on,omitempty"`
	// Cookie is the cookie policy's cookie name. Default "levee_origin".
	Cookie string `yaml:"cookie,omitempty"`
	// CookieTTL is the cookie's Max-Age; 0 (default) makes a session cookie.
	CookieTTL Duration `yaml:"cookie_ttl,omitempty"`
}

// PoolHealth configures a pool's active checks, passive outlier detection
// and damping.
type PoolHealth struct {
	// Active checks poll every origin from boot on; absent, only passive
	// checks run.
	Active *ActiveCheck `yaml:"active,omitempty"`
	// Passive ejects origins whose live traffic fails.
	Passive Passive `yaml:"passive,omitempty"`
	// Damping is the shortest time between two membership changes of one
	// origin: a flapping origin changes at most once per Damping. Default
	// 5s; 0 keeps the default.
	Damping Duration `yaml:"damping,omitempty"`
}

// ActiveCheck is an active HTTP or TCP health check.
type ActiveCheck struct {
	// Type is http (default) or tcp (connect only).
	Type string `yaml:"type,omitempty"`
	// Path is the HTTP path checked. Default "/".
	Path string `yaml:"path,omitempty"`
	// Method is the HTTP method. Default GET.
	Method string `yaml:"method,omitempty"`
	// Host is the Host header sent; empty sends the origin's host.
	Host string `yaml:"host,omitempty"`
	// ExpectStatus is the range of healthy statuses, "200-399" (default)
	// or a single code.
	ExpectStatus string `yaml:"expect_status,omitempty"`
	// ExpectBody, if set, must occur in the first 64KiB of the body.
	ExpectBody string `yaml:"expect_body,omitempty"`
	// Interval between two checks of an origin. Default 5s, at least 50ms.
	Interval Duration `yaml:"interval,omitempty"`
	// Timeout of one check. Default 2s, at most Interval.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Rise is the successes in a row that bring an origin up. Default 2.
	Rise int `yaml:"rise,omitempty"`
	// Fall is the failures in a row that take an origin down. Default 2.
	Fall int `yaml:"fall,omitempty"`
}

// Passive is outlier detection on live traffic.
type Passive struct {
	// ConsecutiveFailures (connect errors, timeouts, 5xx) that eject an
	// origin. Default 5; 0 keeps the default.
	ConsecutiveFailures int `yaml:"consecutive_failures,omitempty"`
	// BaseEjection is the first ejection's length; each further ejection
	// doubles it up to MaxEjection. Defaults 10s and 5m.
	BaseEjection Duration `yaml:"base_ejection,omitempty"`
	MaxEjection  Duration `yaml:"max_ejection,omitempty"`
	// MaxEjectedShare is the largest share of a pool passive checks may
	// eject at once, 0 to 1. Default 0.5. Active checks are not bound by it.
	MaxEjectedShare *float64 `yaml:"max_ejected_share,omitempty"`
}

// Retries is a route's retry policy.
type Retries struct {
	// Attempts is the total tries of one request, the first included.
	// Default 3, at most 10; 1 turns retries off.
	Attempts int `yaml:"attempts,omitempty"`
	// PerPool is the most tries in one pool before the next pool. Default 2.
	PerPool int `yaml:"per_pool,omitempty"`
	// PerTryTimeout bounds each try up to the response headers. Default 0:
	// the pool's timeouts.response_header.
	PerTryTimeout Duration `yaml:"per_try_timeout,omitempty"`
	// Methods are retried besides GET, HEAD, OPTIONS, TRACE, PUT and DELETE.
	// A request with an Idempotency-Key header is retryable too.
	Methods []string `yaml:"methods,omitempty"`
	// OnStatus are origin statuses retried elsewhere. Default [502, 503, 504].
	OnStatus []int `yaml:"on_status,omitempty"`
	// MaxBody is the largest request body buffered so it can be sent
	// again; a larger body, or one of unknown length, is sent once.
	// Default 64KiB, at most 8MiB.
	MaxBody Size `yaml:"max_body,omitempty"`
}

// Fallback is what a route answers when every pool failed.
type Fallback struct {
	// Stale only: answer the classified error, so the cache can serve a
	// stale copy. Default when fallback is absent.
	Stale bool `yaml:"stale,omitempty"`
	// Static is a page answered with 503 when every pool failed.
	Static string `yaml:"static,omitempty"`
	// ContentType of Static. Default "text/html; charset=utf-8".
	ContentType string `yaml:"content_type,omitempty"`
	// RetryAfter is sent with Static. Default 30s.
	RetryAfter Duration `yaml:"retry_after,omitempty"`
}

// Health and retry defaults and bounds.
const (
	DefaultRetryRatio        = 0.2
	DefaultRetryMinPerSecond = 10
	DefaultCheckInterval     = 5 * time.Second
	DefaultCheckTimeout      = 2 * time.Second
	DefaultRise              = 2
	DefaultFall              = 2
	DefaultDamping           = 5 * time.Second
	DefaultConsecutiveFails  = 5
	DefaultBaseEjection      = 10 * time.Second
	DefaultMaxEjection       = 5 * time.Minute
	DefaultMaxEjectedShare   = 0.5
	DefaultAttempts          = 3
	DefaultPerPool           = 2
	DefaultRetryMaxBody      = 64 << 10
	DefaultStickyCookie      = "levee_origin"
	DefaultFallbackType      = "text/html; charset=utf-8"
	DefaultRetryAfter        = 30 * time.Second
	MaxAttempts              = 10
	MaxRetryBody             = 8 << 20
	MaxFallbackBytes         = 256 << 10
	MaxOriginConns           = 100000
)

func setHealthDefaults(c *Config) {
	b := &c.Health.RetryBudget
	if b.Ratio == nil {
		v := DefaultRetryRatio
		b.Ratio = &v
	}
	if b.MinPerSecond == nil {
		v := DefaultRetryMinPerSecond
		b.MinPerSecond = &v
	}
	for i := range c.Pools {
		setPoolHealthDefaults(&c.Pools[i].PoolSpec)
	}
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			r := &c.Sites[i].Routes[j]
			setPoolHealthDefaults(&r.PoolSpec)
			setRetryDefaults(r)
		}
	}
}

func setPoolHealthDefaults(p *PoolSpec) {
	if p.Balance.Policy == "" {
		p.Balance.Policy = "round_robin"
	}
	if p.Balance.Policy == "hash" && p.Balance.HashOn == "" {
		p.Balance.HashOn = "path"
	}
	if p.Balance.Policy == "cookie" && p.Balance.Cookie == "" {
		p.Balance.Cookie = DefaultStickyCookie
	}
	h := p.Health
	if h == nil {
		return
	}
	schema.SetDuration(&h.Damping, DefaultDamping)
	if a := h.Active; a != nil {
		if a.Type == "" {
			a.Type = "http"
		}
		if a.Path == "" {
			a.Path = "/"
		}
		if a.Method == "" {
			a.Method = "GET"
		}
		if a.ExpectStatus == "" {
			a.ExpectStatus = "200-399"
		}
		schema.SetDuration(&a.Interval, DefaultCheckInterval)
		schema.SetDuration(&a.Timeout, min(DefaultCheckTimeout, a.Interval.D()))
		if a.Rise == 0 {
			a.Rise = DefaultRise
		}
		if a.Fall == 0 {
			a.Fall = DefaultFall
		}
	}
	ps := &h.Passive
	if ps.ConsecutiveFailures == 0 {
		ps.ConsecutiveFailures = DefaultConsecutiveFails
	}
	schema.SetDuration(&ps.BaseEjection, DefaultBaseEjection)
	schema.SetDuration(&ps.MaxEjection, DefaultMaxEjection)
	if ps.MaxEjectedShare == nil {
		v := DefaultMaxEjectedShare
		ps.MaxEjectedShare = &v
	}
}

func setRetryDefaults(r *Route) {
	rt := &r.Retries
	if rt.Attempts == 0 {
		rt.Attempts = DefaultAttempts
	}
	if rt.PerPool == 0 {
		rt.PerPool = DefaultPerPool
	}
	if rt.OnStatus == nil {
		rt.OnStatus = []int{502, 503, 504}
	}
	if rt.MaxBody == 0 {
		rt.MaxBody = DefaultRetryMaxBody
	}
	if f := r.Fallback; f != nil && f.Static != "" {
		if f.ContentType == "" {
			f.ContentType = DefaultFallbackType
		}
		schema.SetDuration(&f.RetryAfter, DefaultRetryAfter)
	}
}

func validateHealth(l *schema.List, c *Config) {
	b := c.Health.RetryBudget
	if b.Ratio != nil && (*b.Ratio < 0 || *b.Ratio > 1) {
		l.Add("health.retry_budget.ratio", "must be 0 to 1, not %v", *b.Ratio)
	}
	if b.MinPerSecond != nil && (*b.MinPerSecond < 0 || *b.MinPerSecond > 100000) {
		l.Add("health.retry_budget.min_per_second", "must be 0 to 100000")
	}
	for i := range c.Pools {
		validatePoolHealth(l, fmt.Sprintf("pools[%d]", i), &c.Pools[i].PoolSpec)
	}
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			r := &c.Sites[i].Routes[j]
			p := fmt.Sprintf("sites[%d].routes[%d]", i, j)
			validatePoolHealth(l, p, &r.PoolSpec)
			validateRetries(l, p, r)
			if len(r.Pools) > 0 && (r.Health != nil || r.SlowStart != 0 || r.Balance.Policy != "round_robin") {
				l.Add(p, "health, balance and slow_start of a route with pools: belong on the pools")
			}
		}
	}
}

func validatePoolHealth(l *schema.List, path string, p *PoolSpec) {
	validateBalance(l, path+".balance", &p.Balance)
	if p.SlowStart.D() > time.Hour {
		l.Add(path+".slow_start", "must be at most 1h")
	}
	for i, o := range p.Origins {
		op := fmt.Sprintf("%s.origins[%d]", path, i)
		if o.MaxConns < 0 || o.MaxConns > MaxOriginConns {
			l.Add(op+".max_conns", "must be 0 (unlimited) to %d", MaxOriginConns)
		}
		if o.MaxPending < 0 || o.MaxPending > MaxOriginConns {
			l.Add(op+".max_pending", "must be 0 to %d", MaxOriginConns)
		}
		if o.MaxPending > 0 && o.MaxConns == 0 {
			l.Add(op+".max_pending", "needs max_conns")
		}
	}
	if p.Health == nil {
		return
	}
	h := p.Health
	if h.Damping.D() > time.Hour {
		l.Add(path+".health.damping", "must be at most 1h")
	}
	if h.Active != nil {
		validateActive(l, path+".health.active", h.Active)
	}
	ps := h.Passive
	if ps.ConsecutiveFailures < 1 || ps.ConsecutiveFailures > 1000 {
		l.Add(path+".health.passive.consecutive_failures", "must be 1 to 1000")
	}
	if ps.MaxEjection < ps.BaseEjection {
		l.Add(path+".health.passive.max_ejection", "must be at least base_ejection")
	}
	if s := *ps.MaxEjectedShare; s < 0 || s > 1 {
		l.Add(path+".health.passive.max_ejected_share", "must be 0 to 1, not %v", s)
	}
}

func validateBalance(l *schema.List, path string, b *Balance) {
	if !schema.OneOf(b.Policy, "round_robin", "least_outstanding", "ewma", "hash", "cookie") {
		l.Add(path+".policy", "must be round_robin, least_outstanding, ewma, hash or cookie, not %q", b.Policy)
	}
	if b.HashOn != "" {
		if _, _, err := ParseHashOn(b.HashOn); err != nil {
			l.Add(path+".hash_on", "%v", err)
		}
	}
	if b.Cookie != "" && !schema.ValidHeaderName(b.Cookie) {
		l.Add(path+".cookie", "%q is not a valid cookie name", b.Cookie)
	}
}

// ParseHashOn splits a hash_on value into its kind and name.
func ParseHashOn(s string) (kind, name string, err error) {
	switch s {
	case "path", "uri", "client_ip":
		return s, "", nil
	}
	for _, k := range []string{"header", "cookie", "query"} {
		if len(s) > len(k)+1 && s[:len(k)+1] == k+":" {
			name = s[len(k)+1:]
			if len(name) > 256 {
				break
			}
			return k, name, nil
		}
	}
	return "", "", fmt.Errorf("%q: want path, uri, client_ip, header:NAME, cookie:NAME or query:NAME", s)
}

func validateActive(l *schema.List, path string, a *ActiveCheck) {
	if !schema.OneOf(a.Type, "http", "tcp") {
		l.Add(path+".type", "must be http or tcp, not %q", a.Type)
	}
	if a.Path[0] != '/' || len(a.Path) > MaxPathPrefixLength {
		l.Add(path+".path", "must start with / and be at most %d bytes", MaxPathPrefixLength)
	}
	if !schema.ValidHeaderName(a.Method) {
		l.Add(path+".method", "%q is not a method", a.Method)
	}
	if a.Host != "" && !schema.ValidHostname(a.Host) {
		l.Add(path+".host", "%q is not a hostname", a.Host)
	}
	if _, _, err := ParseStatusRange(a.ExpectStatus); err != nil {
		l.Add(path+".expect_status", "%v", err)
	}
	if len(a.ExpectBody) > 4096 {
		l.Add(path+".expect_body", "must be at most 4096 bytes")
	}
	if a.Interval.D() < 50*time.Millisecond || a.Interval.D() > time.Hour {
		l.Add(path+".interval", "must be 50ms to 1h")
	}
	if a.Timeout > a.Interval {
		l.Add(path+".timeout", "must be at most the interval")
	}
	if a.Rise < 1 || a.Rise > 100 {
		l.Add(path+".rise", "must be 1 to 100")
	}
	if a.Fall < 1 || a.Fall > 100 {
		l.Add(path+".fall", "must be 1 to 100")
	}
}

// ParseStatusRange parses "200-399" or "204".
func ParseStatusRange(s string) (lo, hi int, err error) {
	if n, e := fmt.Sscanf(s, "%d-%d", &lo, &hi); e == nil && n == 2 && fmt.Sprintf("%d-%d", lo, hi) == s {
		// range
	} else if n, e := fmt.Sscanf(s, "%d", &lo); e == nil && n == 1 && fmt.Sprint(lo) == s {
		hi = lo
	} else {
		return 0, 0, fmt.Errorf("%q: want a status such as 200 or a range such as 200-399", s)
	}
	if lo < 100 || hi > 599 || lo > hi {
		return 0, 0, fmt.Errorf("%q: statuses must be 100 to 599, low to high", s)
	}
	return lo, hi, nil
}

func validateRetries(l *schema.List, path string, r *Route) {
	rt := r.Retries
	if rt.Attempts < 1 || rt.Attempts > MaxAttempts {
		l.Add(path+".retries.attempts", "must be 1 to %d", MaxAttempts)
	}
	if rt.PerPool < 1 || rt.PerPool > MaxAttempts {
		l.Add(path+".retries.per_pool", "must be 1 to %d", MaxAttempts)
	}
	if len(rt.Methods) > 16 {
		l.Add(path+".retries.methods", "at most 16 methods")
	}
	for i, m := range rt.Methods {
		if !schema.ValidHeaderName(m) {
			l.Add(fmt.Sprintf("%s.retries.methods[%d]", path, i), "%q is not a method", m)
		}
	}
	if len(rt.OnStatus) > 16 {
		l.Add(path+".retries.on_status", "at most 16 statuses")
	}
	for i, s := range rt.OnStatus {
		if s < 500 || s > 599 {
			l.Add(fmt.Sprintf("%s.retries.on_status[%d]", path, i), "must be a 5xx status, not %d", s)
		}
	}
	if rt.MaxBody < 0 || rt.MaxBody > MaxRetryBody {
		l.Add(path+".retries.max_body", "must be 0 to 8MiB")
	}
	if f := r.Fallback; f != nil {
		if f.Stale == (f.Static != "") {
			l.Add(path+".fallback", "set either stale: true or static: PAGE")
		}
		if len(f.Static) > MaxFallbackBytes {
			l.Add(path+".fallback.static", "page is %d bytes, over the limit of %d", len(f.Static), MaxFallbackBytes)
		}
		if len(f.ContentType) > 256 {
			l.Add(path+".fallback.content_type", "too long")
		}
	}
}
