package schema

import (
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"
)

// Bounds shared by several sections.
const (
	MaxNameLength     = 128
	MaxHostnameLength = 253
)

// ParsePrefix parses an address ("10.0.0.1", "::1") or a CIDR
// ("10.0.0.0/8") into a prefix; an address becomes a single-host prefix.
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

// CheckHostPort adds an error unless addr is host:port with a valid port.
func CheckHostPort(l *List, path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		l.Add(path, "want host:port, got %q", addr)
		return
	}
	if host != "" && net.ParseIP(host) == nil && !ValidHostname(host) {
		l.Add(path, "bad host %q", host)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		l.Add(path, "bad port %q", port)
	}
}

// CheckName adds an error unless name is a non-empty name of letters,
// digits, '-', '_' and '.', at most MaxNameLength bytes: the rule for the
// names of sites, pools, rules and the like.
func CheckName(l *List, path, name string) {
	if name == "" {
		l.Add(path, "a name is required")
		return
	}
	if len(name) > MaxNameLength {
		l.Add(path, "name is %d bytes, over the limit of %d", len(name), MaxNameLength)
	}
	if !ValidName(name) {
		l.Add(path, "name %q may hold only letters, digits, '-', '_' and '.'", name)
	}
}

// ValidName reports whether name holds only letters, digits, '-', '_'
// and '.'.
func ValidName(name string) bool {
	for _, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// OneOf reports whether s is one of opts.
func OneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if s == o {
			return true
		}
	}
	return false
}

// ValidHeaderName reports whether s can be sent as a header name.
func ValidHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	return textproto.CanonicalMIMEHeaderKey(s) != "" && !strings.ContainsAny(s, " \t\r\n:()<>@,;\\\"/[]?={}")
}

// ValidHostname reports whether h is a host name of letters, digits, '-'
// and '_' labels.
func ValidHostname(h string) bool {
	if h == "" || len(h) > MaxHostnameLength {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// IsToken reports whether s is an HTTP token (RFC 9110 5.6.2), as a
// header name must be.
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// SetDuration sets *d to def when it is unset.
func SetDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// SetInt sets *p to def when it is unset.
func SetInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

// SetString sets *s to def when it is empty.
func SetString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// Bool returns a pointer to b, for *bool fields whose unset state matters.
func Bool(b bool) *bool { return &b }
