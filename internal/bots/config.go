package bots

import (
	"strconv"
	"strings"
	"time"

	"levee/internal/config/schema"
)

// Bot management defaults and bounds. The README quotes them.
const (
	DefaultMaxFeatures   = 200
	HardMaxFeatures      = 10000
	DefaultMaxFileBytes  = 1 << 20
	HardMaxFileBytes     = 16 << 20
	DefaultWatchInterval = 2 * time.Second
	MinWatchInterval     = 100 * time.Millisecond
	DefaultScoreHeader   = "Levee-Bot-Score"
	DefaultCookie        = "levee_pass"
	DefaultPassTTL       = time.Hour
	MaxPassTTL           = 7 * 24 * time.Hour
	DefaultChallengeTTL  = 5 * time.Minute
	DefaultNoScriptWait  = 5 * time.Second
	MaxNoScriptWait      = time.Minute
	MaxDifficulty        = 28
	MaxExemptPaths       = 64
	MaxAllowPrefixes     = 1000
)

// Config is the top-level bots: section: the feature file that turns a
// request's signals into a score, and the proof-of-work challenge's
// node-wide settings. Which routes score, and what they do with the
// score, is each route's bots: block (RouteConfig).
type Config struct {
	// Features is the feature file (CSV with a header line, or JSON
	// Lines). Empty: the file shipped with levee. Reloaded on SIGHUP, on
	// POST /bots/features/reload and when its content changes.
	Features string `yaml:"features,omitempty"`
	// MaxFeatures bounds the rows of the feature file. Default 200, at
	// most 10000; a file with more is rejected whole.
	MaxFeatures int `yaml:"max_features,omitempty"`
	// MaxFileBytes bounds the feature file's size. Default 1MiB, at most
	// 16MiB.
	MaxFileBytes schema.Size `yaml:"max_file_bytes,omitempty"`
	// WatchInterval is how often the feature file is checked for a
	// change. Default 2s, at least 100ms.
	WatchInterval schema.Duration `yaml:"watch_interval,omitempty"`
	// ScoreHeader carries the score (1 surely automated, 99 surely human)
	// to the origin. Default Levee-Bot-Score; a client's own is replaced.
	ScoreHeader string `yaml:"score_header,omitempty"`
	// Cookie names the signed cookie a solved challenge sets. Default
	// levee_pass.
	Cookie string `yaml:"cookie,omitempty"`
	// PassTTL is how long a solved challenge's cookie is good. Default 1h,
	// at most 7 days.
	PassTTL schema.Duration `yaml:"pass_ttl,omitempty"`
	// ChallengeTTL is how long a challenge may take to solve. Default 5m.
	ChallengeTTL schema.Duration `yaml:"challenge_ttl,omitempty"`
	// NoScriptWait is what a browser without JavaScript waits before its
	// meta refresh passes. Default 5s, at most 1m.
	NoScriptWait schema.Duration `yaml:"noscript_wait,omitempty"`
	// Verified recognises search engine crawlers by forward-confirmed
	// reverse DNS; they are exempt from scoring on every route.
	Verified VerifiedConfig `yaml:"verified,omitempty"`
}

// VerifiedConfig is bots.verified: which crawlers are believed, and how
// they are checked.
type VerifiedConfig struct {
	// Resolver is the DNS resolver asked (host:port). Empty: no crawler
	// is verified; claims are scored like any request.
	Resolver string `yaml:"resolver,omitempty"`
	// Timeout bounds one verification (PTR, then A/AAAA). Default 2s.
	Timeout schema.Duration `yaml:"timeout,omitempty"`
	// PositiveTTL keeps a confirmed crawler. Default 24h.
	PositiveTTL schema.Duration `yaml:"positive_ttl,omitempty"`
	// NegativeTTL keeps a claim that failed. Default 1h; a resolver
	// error is retried after at most 1m.
	NegativeTTL schema.Duration `yaml:"negative_ttl,omitempty"`
	// MaxEntries bounds the verdict cache; the least recently used go
	// first (counted). Default 10000.
	MaxEntries int `yaml:"max_entries,omitempty"`
	// MaxInflight bounds lookups running at once; a claim over it is not
	// looked up this time (counted as busy). Default 32.
	MaxInflight int `yaml:"max_inflight,omitempty"`
	// Crawlers are the crawlers believed. Default: Googlebot and Bingbot.
	Crawlers []CrawlerConfig `yaml:"crawlers,omitempty"`
}

// CrawlerConfig is one crawler: what its User-Agent contains and the
// domains its reverse DNS names end in.
type CrawlerConfig struct {
	Name    string   `yaml:"name"`
	UA      string   `yaml:"ua"`
	Domains []string `yaml:"domains"`
}

// Verification defaults and bounds.
const (
	DefaultVerifyTimeout     = 2 * time.Second
	DefaultVerifyPositiveTTL = 24 * time.Hour
	DefaultVerifyNegativeTTL = time.Hour
	DefaultVerifyMaxEntries  = 10000
	MaxVerifyMaxEntries      = 1_000_000
	DefaultVerifyMaxInflight = 32
	MaxVerifyMaxInflight     = 1024
)

// DefaultCrawlers are the crawlers verified unless bots.verified.crawlers
// says otherwise (the domains their operators publish).
func DefaultCrawlers() []CrawlerConfig {
	return []CrawlerConfig{
		{Name: "googlebot", UA: "Googlebot", Domains: []string{"googlebot.com", "google.com", "googleusercontent.com"}},
		{Name: "bingbot", UA: "bingbot", Domains: []string{"search.msn.com"}},
	}
}

func (v *VerifiedConfig) setDefaults() {
	schema.SetDuration(&v.Timeout, DefaultVerifyTimeout)
	schema.SetDuration(&v.PositiveTTL, DefaultVerifyPositiveTTL)
	schema.SetDuration(&v.NegativeTTL, DefaultVerifyNegativeTTL)
	schema.SetInt(&v.MaxEntries, DefaultVerifyMaxEntries)
	schema.SetInt(&v.MaxInflight, DefaultVerifyMaxInflight)
	if v.Crawlers == nil {
		v.Crawlers = DefaultCrawlers()
	}
}

func (v *VerifiedConfig) validate(l *schema.List) {
	if v.Resolver != "" {
		schema.CheckHostPort(l, "bots.verified.resolver", v.Resolver)
	}
	if v.Timeout.D() <= 0 || v.Timeout.D() > 30*time.Second {
		l.Add("bots.verified.timeout", "%s is out of range (0, 30s]", v.Timeout.D())
	}
	if v.PositiveTTL.D() <= 0 || v.PositiveTTL.D() > 7*24*time.Hour {
		l.Add("bots.verified.positive_ttl", "%s is out of range (0, 168h]", v.PositiveTTL.D())
	}
	if v.NegativeTTL.D() <= 0 || v.NegativeTTL.D() > 7*24*time.Hour {
		l.Add("bots.verified.negative_ttl", "%s is out of range (0, 168h]", v.NegativeTTL.D())
	}
	if v.MaxEntries < 1 || v.MaxEntries > MaxVerifyMaxEntries {
		l.Add("bots.verified.max_entries", "%d is out of range 1 to %d", v.MaxEntries, MaxVerifyMaxEntries)
	}
	if v.MaxInflight < 1 || v.MaxInflight > MaxVerifyMaxInflight {
		l.Add("bots.verified.max_inflight", "%d is out of range 1 to %d", v.MaxInflight, MaxVerifyMaxInflight)
	}
	if len(v.Crawlers) > maxCrawlers {
		l.Add("bots.verified.crawlers", "%d crawlers, over the limit of %d", len(v.Crawlers), maxCrawlers)
	}
	for i, c := range v.Crawlers {
		p := "bots.verified.crawlers[" + strconv.Itoa(i) + "]"
		if c.Name == "" || !schema.IsToken(c.Name) {
			l.Add(p+".name", "%q is not a name (letters, digits, - and _)", c.Name)
		}
		if len(c.UA) < 3 || len(c.UA) > maxTokenLength {
			l.Add(p+".ua", "%q must be 3 to %d bytes", c.UA, maxTokenLength)
		}
		if len(c.Domains) == 0 || len(c.Domains) > maxCrawlerDomain {
			l.Add(p+".domains", "want 1 to %d domains", maxCrawlerDomain)
		}
		for j, d := range c.Domains {
			if !schema.ValidHostname(strings.TrimSuffix(d, ".")) || !strings.Contains(d, ".") {
				l.Add(p+".domains["+strconv.Itoa(j)+"]", "%q is not a domain name", d)
			}
		}
	}
}

// RouteConfig is a route's bots: block: score bands and their actions.
// A request scores 1 to 99; below block_below it is blocked, below
// challenge_below challenged, below log_below logged, else allowed.
type RouteConfig struct {
	// BlockBelow: scores under it get 403. Default 0 (never).
	BlockBelow int `yaml:"block_below,omitempty"`
	// ChallengeBelow: scores under it get the proof-of-work challenge.
	// Default 0 (never); 100 challenges every request without a pass.
	ChallengeBelow int `yaml:"challenge_below,omitempty"`
	// LogBelow: scores under it are marked "log" in the access log.
	// Default 30.
	LogBelow *int `yaml:"log_below,omitempty"`
	// Difficulty is the challenge's leading zero bits (SHA-256). Default
	// 16, 1 to 28; +4 while the site is under attack, +2 while the
	// admission limiter sheds.
	Difficulty int `yaml:"difficulty,omitempty"`
	// ExemptPaths are path prefixes never scored against (APIs, feeds).
	// /.well-known/ is always exempt.
	ExemptPaths []string `yaml:"exempt_paths,omitempty"`
	// Allow lists client addresses or CIDRs never challenged or blocked.
	Allow []string `yaml:"allow,omitempty"`
}

// Difficulty default and the steps it rises by.
const (
	DefaultDifficulty   = 16
	AttackDifficulty    = 4
	AdmissionDifficulty = 2
	DefaultLogBelow     = 30
)

// SetDefaults fills in the section's defaults.
func (c *Config) SetDefaults() {
	schema.SetInt(&c.MaxFeatures, DefaultMaxFeatures)
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	schema.SetDuration(&c.WatchInterval, DefaultWatchInterval)
	schema.SetString(&c.ScoreHeader, DefaultScoreHeader)
	schema.SetString(&c.Cookie, DefaultCookie)
	schema.SetDuration(&c.PassTTL, DefaultPassTTL)
	schema.SetDuration(&c.ChallengeTTL, DefaultChallengeTTL)
	schema.SetDuration(&c.NoScriptWait, DefaultNoScriptWait)
	c.Verified.setDefaults()
}

// Validate adds the section's errors to l.
func (c *Config) Validate(l *schema.List) {
	if c.MaxFeatures < 1 || c.MaxFeatures > HardMaxFeatures {
		l.Add("bots.max_features", "%d is out of range 1 to %d", c.MaxFeatures, HardMaxFeatures)
	}
	if c.MaxFileBytes < 64 || c.MaxFileBytes > HardMaxFileBytes {
		l.Add("bots.max_file_bytes", "%d is out of range 64 to %d bytes", c.MaxFileBytes, HardMaxFileBytes)
	}
	if c.WatchInterval.D() < MinWatchInterval {
		l.Add("bots.watch_interval", "%s is under the minimum of %s", c.WatchInterval.D(), MinWatchInterval)
	}
	if !schema.ValidHeaderName(c.ScoreHeader) {
		l.Add("bots.score_header", "%q is not a header name", c.ScoreHeader)
	}
	if !schema.IsToken(c.Cookie) {
		l.Add("bots.cookie", "%q is not a cookie name", c.Cookie)
	}
	if c.PassTTL.D() <= 0 || c.PassTTL.D() > MaxPassTTL {
		l.Add("bots.pass_ttl", "%s is out of range (0, %s]", c.PassTTL.D(), MaxPassTTL)
	}
	if c.ChallengeTTL.D() < 10*time.Second || c.ChallengeTTL.D() > time.Hour {
		l.Add("bots.challenge_ttl", "%s is out of range 10s to 1h", c.ChallengeTTL.D())
	}
	if c.NoScriptWait.D() < 0 || c.NoScriptWait.D() > MaxNoScriptWait {
		l.Add("bots.noscript_wait", "%s is out of range 0 to %s", c.NoScriptWait.D(), MaxNoScriptWait)
	}
	c.Verified.validate(l)
}

// SetDefaults fills in a route block's defaults.
func (r *RouteConfig) SetDefaults() {
	if r.LogBelow == nil {
		v := DefaultLogBelow
		r.LogBelow = &v
	}
	schema.SetInt(&r.Difficulty, DefaultDifficulty)
}

// Validate adds a route block's errors to l, at path.
func (r *RouteConfig) Validate(l *schema.List, path string) {
	for _, b := range []struct {
		key string
		v   int
	}{{"block_below", r.BlockBelow}, {"challenge_below", r.ChallengeBelow}, {"log_below", *r.LogBelow}} {
		if b.v < 0 || b.v > 100 {
			l.Add(path+"."+b.key, "%d is out of range 0 to 100", b.v)
		}
	}
	if r.Difficulty < 1 || r.Difficulty > MaxDifficulty {
		l.Add(path+".difficulty", "%d is out of range 1 to %d", r.Difficulty, MaxDifficulty)
	}
	if len(r.ExemptPaths) > MaxExemptPaths {
		l.Add(path+".exempt_paths", "%d paths, over the limit of %d", len(r.ExemptPaths), MaxExemptPaths)
	}
	for i, p := range r.ExemptPaths {
		if !strings.HasPrefix(p, "/") {
			l.Add(path+".exempt_paths["+strconv.Itoa(i)+"]", "%q must start with /", p)
		}
	}
	if len(r.Allow) > MaxAllowPrefixes {
		l.Add(path+".allow", "%d entries, over the limit of %d", len(r.Allow), MaxAllowPrefixes)
	}
	for i, a := range r.Allow {
		if _, err := schema.ParsePrefix(a); err != nil {
			l.Add(path+".allow["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
}
