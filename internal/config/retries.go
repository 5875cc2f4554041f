package config

import (
	"fmt"
	"time"

	"levee/internal/config/schema"
)

// Retries is a route's retry policy.
type Retries struct {
	// Attempts is the total tries of one request, the first included.
	// Default 3, at most 10; 1 turns retries off.
	Attempts int `yaml:"attempts,omitempty"`
	// PerPool is the most tries in one pool before the next pool. Default 2.
	PerPool int `yaml:"per_pool,omitempty"`
	// PerTryTimeout bounds each try up to the response headers. Default 0:
	// the pool's timeouts.response_header.
	PerTryTimeout schema.Duration `yaml:"per_try_timeout,omitempty"`
	// Methods are retried besides GET, HEAD, OPTIONS, TRACE, PUT and DELETE.
	// A request with an Idempotency-Key header is retryable too.
	Methods []string `yaml:"methods,omitempty"`
	// OnStatus are origin statuses retried elsewhere. Default [502, 503, 504].
	OnStatus []int `yaml:"on_status,omitempty"`
	// MaxBody is the largest request body buffered so it can be sent
	// again; a larger body, or one of unknown length, is sent once.
	// Default 64KiB, at most 8MiB.
	MaxBody schema.Size `yaml:"max_body,omitempty"`
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
	RetryAfter schema.Duration `yaml:"retry_after,omitempty"`
}

// Retry and pool defaults and bounds.
const (
	DefaultAttempts     = 3
	DefaultPerPool      = 2
	DefaultRetryMaxBody = 64 << 10
	DefaultFallbackType = "text/html; charset=utf-8"
	DefaultRetryAfter   = 30 * time.Second
	MaxAttempts         = 10
	MaxRetryBody        = 8 << 20
	MaxFallbackBytes    = 256 << 10
	MaxOriginConns      = 100000
)

// setPoolSectionDefaults fills the pool's capability blocks: balance and
// health.
func setPoolSectionDefaults(p *PoolSpec) {
	p.Balance.SetDefaults()
	if p.Health != nil {
		p.Health.SetDefaults()
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

func validatePoolsAndRoutes(l *schema.List, c *Config) {
	for i := range c.Pools {
		validatePoolSections(l, fmt.Sprintf("pools[%d]", i), &c.Pools[i].PoolSpec)
	}
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			r := &c.Sites[i].Routes[j]
			p := fmt.Sprintf("sites[%d].routes[%d]", i, j)
			validatePoolSections(l, p, &r.PoolSpec)
			validateRetries(l, p, r)
			if len(r.Pools) > 0 && (r.Health != nil || r.SlowStart != 0 || r.Balance.Policy != "round_robin") {
				l.Add(p, "health, balance and slow_start of a route with pools: belong on the pools")
			}
		}
	}
}

func validatePoolSections(l *schema.List, path string, p *PoolSpec) {
	p.Balance.Validate(l, path+".balance")
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
	if p.Health != nil {
		p.Health.Validate(l, path+".health")
	}
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
