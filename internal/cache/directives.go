package cache

import (
	"net/textproto"
	"strings"
)

// maxDelta is what an overflowing delta-seconds becomes (RFC 9111 1.2.2).
const maxDelta = 2147483648

// directives are the parsed Cache-Control (or targeted CDN-Cache-Control,
// Levee-Cache-Control) directives of a request or a response. A delta of -1
// means the directive is absent. When a directive repeats, the first one
// counts (RFC 9111 4.2.1); an invalid delta counts as 0, which makes the
// response stale rather than fresh.
type directives struct {
	maxAge, sMaxAge, maxStale, minFresh int64
	swr, sie                            int64
	maxStaleAny                         bool
	noStore, noCache, private, public   bool
	mustRevalidate, proxyRevalidate     bool
	onlyIfCached, mustUnderstand        bool
	// privateFields are the fields named by a qualified private="..."; a
	// shared cache stores the response without them (RFC 9111 5.2.2.7).
	privateFields []string
}

// parseDirectives parses the comma-separated directives of all the field
// lines in values. Unknown directives are ignored; it never fails.
func parseDirectives(values []string) directives {
	d := directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	for _, v := range values {
		for v != "" {
			var name, arg string
			var quoted bool
			name, arg, quoted, v = nextDirective(v)
			d.set(name, arg, quoted)
		}
	}
	return d
}

// nextDirective splits off the first directive of s: its lowercase name,
// its argument (unquoted), whether it was quoted, and the rest of s.
func nextDirective(s string) (name, arg string, quoted bool, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.ToLower(textproto.TrimString(s[:i]))
	s = s[i:]
	if s == "" || s[0] == ',' {
		return name, "", false, s
	}
	s = strings.TrimLeft(s[1:], " \t")
	if s != "" && s[0] == '"' {
		var b []byte
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b = append(b, s[j])
		}
		if j < len(s) {
			j++
		}
		rest = s[j:]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k:]
		} else {
			rest = ""
		}
		return name, string(b), true, rest
	}
	j := strings.IndexByte(s, ',')
	if j < 0 {
		j = len(s)
	}
	return name, textproto.TrimString(s[:j]), false, s[j:]
}

func (d *directives) set(name, arg string, quoted bool) {
	if p := d.responseDelta(name); p != nil {
		setDelta(p, arg)
		return
	}
	if p := d.responseFlag(name); p != nil {
		*p = true
		return
	}
	switch name {
	case "min-fresh":
		setDelta(&d.minFresh, arg)
	case "max-stale":
		if arg == "" {
			d.maxStaleAny = true
		} else {
			setDelta(&d.maxStale, arg)
		}
	case "no-cache":
		// Qualified no-cache="field" is treated as unqualified: stricter,
		// and what RFC 9111 5.2.2.4 allows.
		d.noCache = true
	case "private":
		if quoted && arg != "" {
			d.addPrivateFields(arg)
		} else {
			d.private = true
		}
	case "only-if-cached":
		d.onlyIfCached = true
	}
}

// responseDelta is where a delta-seconds directive that both syntaxes
// (Cache-Control and the targeted Dictionaries) know is kept, or nil: the
// two parsers differ in how they read the value, not in what it means.
func (d *directives) responseDelta(name string) *int64 {
	switch name {
	case "max-age":
		return &d.maxAge
	case "s-maxage":
		return &d.sMaxAge
	case "stale-while-revalidate":
		return &d.swr
	case "stale-if-error":
		return &d.sie
	}
	return nil
}

// responseFlag is where a valueless directive that both syntaxes know is
// kept, or nil.
func (d *directives) responseFlag(name string) *bool {
	switch name {
	case "no-store":
		return &d.noStore
	case "public":
		return &d.public
	case "must-revalidate":
		return &d.mustRevalidate
	case "proxy-revalidate":
		return &d.proxyRevalidate
	case "must-understand":
		return &d.mustUnderstand
	}
	return nil
}

// addPrivateFields adds the fields a qualified private names, at most 32.
func (d *directives) addPrivateFields(list string) {
	for _, f := range strings.Split(list, ",") {
		if f = textproto.TrimString(f); f != "" && len(d.privateFields) < 32 {
			d.privateFields = append(d.privateFields, textproto.CanonicalMIMEHeaderKey(f))
		}
	}
}

// setDelta keeps the first occurrence of a delta-seconds directive.
func setDelta(dst *int64, arg string) {
	if *dst >= 0 {
		return
	}
	*dst = parseDelta(arg)
}

// parseDelta parses delta-seconds; invalid input is 0 (stale), overflow is
// capped at 2^31.
func parseDelta(s string) int64 {
	if s == "" {
		return 0
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
		if n >= maxDelta {
			return maxDelta
		}
	}
	return n
}
