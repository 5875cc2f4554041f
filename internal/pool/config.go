package pool

import (
	"fmt"

	"levee/internal/config/schema"
)

// BalanceConfig chooses the policy that picks an origin in a pool.
type BalanceConfig struct {
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
	CookieTTL schema.Duration `yaml:"cookie_ttl,omitempty"`
}

// DefaultStickyCookie is the cookie policy's cookie name by default.
const DefaultStickyCookie = "levee_origin"

// SetDefaults fills the unset fields of a balance: block.
func (b *BalanceConfig) SetDefaults() {
	if b.Policy == "" {
		b.Policy = "round_robin"
	}
	if b.Policy == "hash" && b.HashOn == "" {
		b.HashOn = "path"
	}
	if b.Policy == "cookie" && b.Cookie == "" {
		b.Cookie = DefaultStickyCookie
	}
}

// Validate checks a balance: block; path is its place in the config.
func (b *BalanceConfig) Validate(l *schema.List, path string) {
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

// NewPicker returns the picker a balance: block asks for.
func NewPicker(b *BalanceConfig, origins []*Origin) Picker {
	switch b.Policy {
	case "least_outstanding":
		return NewLeastOutstanding(origins)
	case "ewma":
		return NewEWMA(origins)
	case "hash":
		kind, name, _ := ParseHashOn(b.HashOn)
		return NewHash(origins, NewKeyFunc(kind, name))
	case "cookie":
		return NewSticky(origins, b.Cookie, b.CookieTTL.D())
	}
	return NewRoundRobin(origins)
}
