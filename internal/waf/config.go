package waf

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"levee/internal/config/schema"
)

// WAF defaults and bounds. The README quotes them.
const (
	DefaultBudget       = 50 * time.Millisecond
	MaxBudget           = 10 * time.Second
	DefaultMaxInflight  = 64
	MaxMaxInflight      = 4096
	DefaultBodyLimit    = 128 << 10
	MaxBodyLimit        = 8 << 20
	DefaultThreshold    = 5
	MaxCustomRules      = 256
	MaxRegexBytes       = 4096
	MaxExclusions       = 256
	DefaultCustomRuleID = 1000000
)

// Config is the top-level waf: section: node-wide bounds and the custom
// rules routes may use.
type Config struct {
	// Budget is the most a request waits for its inspection. Over it the
	// route's failure policy applies (default: pass, counted as a bypass);
	// the request is never held longer. Default 50ms.
	Budget schema.Duration `yaml:"budget,omitempty"`
	// MaxInflight bounds inspections running at once, including those
	// still finishing after their request went on past the budget. Over
	// it the failure policy applies at once. Default 64.
	MaxInflight int `yaml:"max_inflight,omitempty"`
	// Rules are custom rules in levee's own terms, matched with Go's
	// linear-time regexp. At most 256, each pattern at most 4 KiB.
	Rules []Rule `yaml:"rules,omitempty"`
}

// Rule is one custom rule.
type Rule struct {
	// ID is reported in the access log. 1000000 and up (CRS uses below).
	ID int `yaml:"id"`
	// Target is what the pattern is matched against: method, path,
	// query, uri, body, header:NAME or cookie:NAME.
	Target string `yaml:"target"`
	// Regex is a Go regular expression (RE2 syntax: no backtracking).
	Regex string `yaml:"regex"`
	// Action is block (default) or log.
	Action string `yaml:"action,omitempty"`
}

// RouteConfig is a route's waf: block. Present means on.
type RouteConfig struct {
	// CRS turns the OWASP Core Rule Set on. Default true.
	CRS *bool `yaml:"crs,omitempty"`
	// Paranoia is the CRS paranoia level, 1 to 4. Default 1.
	Paranoia int `yaml:"paranoia,omitempty"`
	// Threshold is the CRS inbound anomaly score that blocks. Default 5.
	Threshold int `yaml:"threshold,omitempty"`
	// DetectionOnly logs what would be blocked and blocks nothing.
	DetectionOnly bool `yaml:"detection_only,omitempty"`
	// BodyLimit is how much of a request body is inspected; the rest
	// passes uninspected. Default 128KiB, at most 8MiB.
	BodyLimit schema.Size `yaml:"body_limit,omitempty"`
	// Exclude lists CRS rule IDs turned off on this route.
	Exclude []int `yaml:"exclude,omitempty"`
	// Rules lists the IDs of waf.rules applied on this route; empty: all.
	Rules []int `yaml:"rules,omitempty"`
	// Budget overrides waf.budget on this route; 0 keeps it.
	Budget schema.Duration `yaml:"budget,omitempty"`
	// Fail is the policy when the budget or max_inflight is exceeded or
	// the inspection fails: open (pass, counted; default) or closed (503).
	Fail string `yaml:"fail,omitempty"`
}

// SetDefaults fills in the section's defaults.
func (c *Config) SetDefaults() {
	schema.SetDuration(&c.Budget, DefaultBudget)
	schema.SetInt(&c.MaxInflight, DefaultMaxInflight)
	for i := range c.Rules {
		schema.SetString(&c.Rules[i].Action, "block")
	}
}

// Validate adds the section's errors to l.
func (c *Config) Validate(l *schema.List) {
	if c.Budget.D() <= 0 || c.Budget.D() > MaxBudget {
		l.Add("waf.budget", "%s is out of range (0, %s]", c.Budget.D(), MaxBudget)
	}
	if c.MaxInflight < 1 || c.MaxInflight > MaxMaxInflight {
		l.Add("waf.max_inflight", "%d is out of range 1 to %d", c.MaxInflight, MaxMaxInflight)
	}
	if len(c.Rules) > MaxCustomRules {
		l.Add("waf.rules", "%d rules, over the limit of %d", len(c.Rules), MaxCustomRules)
	}
	seen := map[int]bool{}
	for i, r := range c.Rules {
		p := "waf.rules[" + strconv.Itoa(i) + "]"
		if r.ID < DefaultCustomRuleID {
			l.Add(p+".id", "%d is below %d (the Core Rule Set's range)", r.ID, DefaultCustomRuleID)
		}
		if seen[r.ID] {
			l.Add(p+".id", "%d is used by another rule", r.ID)
		}
		seen[r.ID] = true
		if !validTarget(r.Target) {
			l.Add(p+".target", "want method, path, query, uri, body, header:NAME or cookie:NAME, got %q", r.Target)
		}
		if len(r.Regex) == 0 || len(r.Regex) > MaxRegexBytes {
			l.Add(p+".regex", "pattern is %d bytes, want 1 to %d", len(r.Regex), MaxRegexBytes)
		} else if _, err := regexp.Compile(r.Regex); err != nil {
			l.Add(p+".regex", "%v", err)
		}
		if !schema.OneOf(r.Action, "block", "log") {
			l.Add(p+".action", "must be block or log, not %q", r.Action)
		}
	}
}

func validTarget(t string) bool {
	switch t {
	case "method", "path", "query", "uri", "body":
		return true
	}
	if n, ok := strings.CutPrefix(t, "header:"); ok {
		return schema.ValidHeaderName(n)
	}
	if n, ok := strings.CutPrefix(t, "cookie:"); ok {
		return schema.IsToken(n)
	}
	return false
}

// SetDefaults fills in a route block's defaults.
func (r *RouteConfig) SetDefaults() {
	if r.CRS == nil {
		r.CRS = schema.Bool(true)
	}
	schema.SetInt(&r.Paranoia, 1)
	schema.SetInt(&r.Threshold, DefaultThreshold)
	if r.BodyLimit == 0 {
		r.BodyLimit = DefaultBodyLimit
	}
	schema.SetString(&r.Fail, "open")
}

// Validate adds a route block's errors to l, at path; ruleIDs are the
// IDs of waf.rules.
func (r *RouteConfig) Validate(l *schema.List, path string, ruleIDs map[int]bool) {
	if r.Paranoia < 1 || r.Paranoia > 4 {
		l.Add(path+".paranoia", "%d is out of range 1 to 4", r.Paranoia)
	}
	if r.Threshold < 1 || r.Threshold > 10000 {
		l.Add(path+".threshold", "%d is out of range 1 to 10000", r.Threshold)
	}
	if r.BodyLimit < 0 || r.BodyLimit > MaxBodyLimit {
		l.Add(path+".body_limit", "%d is out of range 0 to %d bytes", r.BodyLimit, MaxBodyLimit)
	}
	if len(r.Exclude) > MaxExclusions {
		l.Add(path+".exclude", "%d rule IDs, over the limit of %d", len(r.Exclude), MaxExclusions)
	}
	for i, id := range r.Exclude {
		if id <= 0 {
			l.Add(path+".exclude["+strconv.Itoa(i)+"]", "%d is not a rule ID", id)
		}
	}
	for i, id := range r.Rules {
		if !ruleIDs[id] {
			l.Add(path+".rules["+strconv.Itoa(i)+"]", "no rule with id %d in waf.rules", id)
		}
	}
	if r.Budget.D() < 0 || r.Budget.D() > MaxBudget {
		l.Add(path+".budget", "%s is out of range 0 to %s", r.Budget.D(), MaxBudget)
	}
	if !schema.OneOf(r.Fail, "open", "closed") {
		l.Add(path+".fail", "must be open or closed, not %q", r.Fail)
	}
}

// RuleIDs returns the IDs of the custom rules, for route validation.
func (c *Config) RuleIDs() map[int]bool {
	out := map[int]bool{}
	for _, r := range c.Rules {
		out[r.ID] = true
	}
	return out
}
