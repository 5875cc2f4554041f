package health

import (
	"fmt"
	"time"

	"levee/internal/config/schema"
)

// Config is the top-level health: section: the node-wide retry budget.
type Config struct {
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

// PoolConfig configures a pool's active checks, passive outlier detection
// and damping.
type PoolConfig struct {
	// Active checks poll every origin from boot on; absent, only passive
	// checks run.
	Active *ActiveConfig `yaml:"active,omitempty"`
	// Passive ejects origins whose live traffic fails.
	Passive PassiveConfig `yaml:"passive,omitempty"`
	// Damping is the shortest time between two membership changes of one
	// origin: a flapping origin changes at most once per Damping. Default
	// 5s; 0 keeps the default.
	Damping schema.Duration `yaml:"damping,omitempty"`
}

// ActiveConfig is an active HTTP or TCP health check.
type ActiveConfig struct {
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
	Interval schema.Duration `yaml:"interval,omitempty"`
	// Timeout of one check. Default 2s, at most Interval.
	Timeout schema.Duration `yaml:"timeout,omitempty"`
	// Rise is the successes in a row that bring an origin up. Default 2.
	Rise int `yaml:"rise,omitempty"`
	// Fall is the failures in a row that take an origin down. Default 2.
	Fall int `yaml:"fall,omitempty"`
}

// PassiveConfig is outlier detection on live traffic.
type PassiveConfig struct {
	// ConsecutiveFailures (connect errors, timeouts, 5xx) that eject an
	// origin. Default 5; 0 keeps the default.
	ConsecutiveFailures int `yaml:"consecutive_failures,omitempty"`
	// BaseEjection is the first ejection's length; each further ejection
	// doubles it up to MaxEjection. Defaults 10s and 5m.
	BaseEjection schema.Duration `yaml:"base_ejection,omitempty"`
	MaxEjection  schema.Duration `yaml:"max_ejection,omitempty"`
	// MaxEjectedShare is the largest share of a pool passive checks may
	// eject at once, 0 to 1. Default 0.5. Active checks are not bound by it.
	MaxEjectedShare *float64 `yaml:"max_ejected_share,omitempty"`
}

// Health defaults and bounds.
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
	MaxCheckPath             = 1024
)

// SetDefaults fills the unset fields of the health: section.
func (c *Config) SetDefaults() {
	b := &c.RetryBudget
	if b.Ratio == nil {
		v := DefaultRetryRatio
		b.Ratio = &v
	}
	if b.MinPerSecond == nil {
		v := DefaultRetryMinPerSecond
		b.MinPerSecond = &v
	}
}

// Validate checks the health: section.
func (c *Config) Validate(l *schema.List) {
	b := c.RetryBudget
	if b.Ratio != nil && (*b.Ratio < 0 || *b.Ratio > 1) {
		l.Add("health.retry_budget.ratio", "must be 0 to 1, not %v", *b.Ratio)
	}
	if b.MinPerSecond != nil && (*b.MinPerSecond < 0 || *b.MinPerSecond > 100000) {
		l.Add("health.retry_budget.min_per_second", "must be 0 to 100000")
	}
}

// SetDefaults fills the unset fields of a pool's health: block.
func (h *PoolConfig) SetDefaults() {
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

// Validate checks a pool's health: block; path is its place in the
// config (pools[2].health).
func (h *PoolConfig) Validate(l *schema.List, path string) {
	if h.Damping.D() > time.Hour {
		l.Add(path+".damping", "must be at most 1h")
	}
	if h.Active != nil {
		validateActive(l, path+".active", h.Active)
	}
	ps := h.Passive
	if ps.ConsecutiveFailures < 1 || ps.ConsecutiveFailures > 1000 {
		l.Add(path+".passive.consecutive_failures", "must be 1 to 1000")
	}
	if ps.MaxEjection < ps.BaseEjection {
		l.Add(path+".passive.max_ejection", "must be at least base_ejection")
	}
	if s := *ps.MaxEjectedShare; s < 0 || s > 1 {
		l.Add(path+".passive.max_ejected_share", "must be 0 to 1, not %v", s)
	}
}

func validateActive(l *schema.List, path string, a *ActiveConfig) {
	if !schema.OneOf(a.Type, "http", "tcp") {
		l.Add(path+".type", "must be http or tcp, not %q", a.Type)
	}
	if a.Path[0] != '/' || len(a.Path) > MaxCheckPath {
		l.Add(path+".path", "must start with / and be at most %d bytes", MaxCheckPath)
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
