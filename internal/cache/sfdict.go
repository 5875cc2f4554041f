package cache

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// A Structured Field Dictionary parser (RFC 8941 4.2.2, with the Date and
// Display String items RFC 9651 added), just enough to read the targeted
// cache-control fields of RFC 9213: CDN-Cache-Control and
// Levee-Cache-Control. A field that does not parse is ignored as a whole
// (RFC 9213 2.1), so the parser checks the full grammar even of members
// it then has no use for. No module in the project's dependency list
// parses Structured Fields.

// sfKind is the type of a member's value.
type sfKind uint8

const (
	sfInteger sfKind = iota
	sfDecimal
	sfString
	sfToken
	sfBinary
	sfBoolean
	sfDate
	sfDisplayString
	sfInnerList
)

// sfMember is one dictionary member: its key and bare value. Parameters
// are checked and dropped: no cache directive defines any.
type sfMember struct {
	key     string
	kind    sfKind
	integer int64  // sfInteger, sfDate
	str     string // sfString, sfToken, sfDisplayString (decoded)
	boolean bool   // sfBoolean
}

type sfParser struct {
	s string
	i int
}

// parseSFDictionary parses the field lines of a Dictionary field, calling
// fn for each member in order (a repeated key comes again: the last one
// wins, RFC 8941 4.2.2). It reports false if the field is not a valid
// Dictionary; fn may have been called for members before the error, so
// callers apply members to a scratch value.
func parseSFDictionary(lines []string, fn func(*sfMember)) bool {
	// RFC 8941 4.2: field lines are combined with a comma.
	p := sfParser{s: strings.Join(lines, ", ")}
	p.skipSP()
	for !p.done() {
		var m sfMember
		var ok bool
		if m.key, ok = p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				ok = p.innerList()
				m.kind = sfInnerList
			} else {
				ok = p.item(&m)
			}
		} else {
			m.kind, m.boolean = sfBoolean, true
			ok = p.parameters()
		}
		if !ok {
			return false
		}
		fn(&m)
		p.skipOWS()
		if p.done() {
			return true
		}
		if p.next() != ',' {
			return false
		}
		p.skipOWS()
		if p.done() {
			return false // a trailing comma
		}
	}
	return true
}

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) next() byte {
	c := p.peek()
	p.i++
	return c
}

func (p *sfParser) skipSP() {
	for p.peek() == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for c := p.peek(); c == ' ' || c == '\t'; c = p.peek() {
		p.i++
	}
}

// key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !(c >= 'a' && c <= 'z' || c == '*') {
		return "", false
	}
	p.i++
	for {
		c := p.peek()
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		return p.s[start:p.i], true
	}
}

// item is a bare item followed by its parameters.
func (p *sfParser) item(m *sfMember) bool {
	return p.bareItem(m) && p.parameters()
}

// parameters: *( ";" *SP key [ "=" bare-item ] ).
func (p *sfParser) parameters() bool {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			var v sfMember
			if !p.bareItem(&v) {
				return false
			}
		}
	}
	return true
}

// innerList: "(" *SP [ item *( 1*SP item ) *SP ] ")" parameters.
func (p *sfParser) innerList() bool {
	p.i++ // "("
	for !p.done() {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return p.parameters()
		}
		var v sfMember
		if !p.item(&v) {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
	return false
}

func (p *sfParser) bareItem(m *sfMember) bool {
	c := p.peek()
	switch {
	case c == '-' || c >= '0' && c <= '9':
		return p.number(m)
	case c == '"':
		m.kind = sfString
		return p.str(m)
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		m.kind = sfToken
		return p.token(m)
	case c == ':':
		m.kind = sfBinary
		return p.binary()
	case c == '?':
		p.i++
		m.kind = sfBoolean
		switch p.next() {
		case '0':
			return true
		case '1':
			m.boolean = true
			return true
		}
		return false
	case c == '@':
		p.i++
		if !p.number(m) || m.kind != sfInteger {
			return false
		}
		m.kind = sfDate
		return true
	case c == '%':
		m.kind = sfDisplayString
		return p.displayString(m)
	}
	return false
}

// number: an Integer ( ["-"] 1*15DIGIT ) or a Decimal
// ( ["-"] 1*12DIGIT "." 1*3DIGIT ), RFC 8941 4.2.4.
func (p *sfParser) number(m *sfMember) bool {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	if c := p.peek(); c < '0' || c > '9' {
		return false
	}
	var n int64
	intDigits, fracDigits, decimal := 0, 0, false
loop:
	for {
		c := p.peek()
		switch {
		case c >= '0' && c <= '9':
			if decimal {
				fracDigits++
			} else {
				intDigits++
				n = n*10 + int64(c-'0')
			}
		case c == '.' && !decimal:
			if intDigits > 12 {
				return false
			}
			decimal = true
		default:
			break loop
		}
		p.i++
		if !decimal && intDigits > 15 || decimal && intDigits+fracDigits+1 > 16 {
			return false
		}
	}
	if decimal {
		if fracDigits == 0 || fracDigits > 3 {
			return false
		}
		m.kind = sfDecimal
		return true
	}
	if neg {
		n = -n
	}
	m.kind, m.integer = sfInteger, n
	return true
}

// str: DQUOTE *( %x20-21 / %x23-5B / %x5D-7E / "\" ( DQUOTE / "\" ) ) DQUOTE.
func (p *sfParser) str(m *sfMember) bool {
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.next()
		switch {
		case c == '\\':
			if e := p.next(); e == '"' || e == '\\' {
				b.WriteByte(e)
				continue
			}
			return false
		case c == '"':
			m.str = b.String()
			return true
		case c < 0x20 || c > 0x7e:
			return false
		}
		b.WriteByte(c)
	}
	return false
}

// token: ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func (p *sfParser) token(m *sfMember) bool {
	start := p.i
	p.i++
	for !p.done() && (isTchar(p.peek()) || p.peek() == ':' || p.peek() == '/') {
		p.i++
	}
	m.str = p.s[start:p.i]
	return true
}

func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// binary: ":" *base64 ":", which must decode (padding optional, as RFC
// 8941 4.2.7 advises).
func (p *sfParser) binary() bool {
	p.i++
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return false
	}
	b64 := p.s[p.i : p.i+end]
	p.i += end + 1
	for i := 0; i < len(b64); i++ {
		c := b64[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	_, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	return err == nil
}

// displayString: "%" DQUOTE *( unescaped / "%" 2lc-hexdig ) DQUOTE, valid
// UTF-8 once decoded (RFC 9651 4.2.10).
func (p *sfParser) displayString(m *sfMember) bool {
	p.i++
	if p.next() != '"' {
		return false
	}
	var b []byte
	for !p.done() {
		c := p.next()
		switch {
		case c < 0x20 || c > 0x7e:
			return false
		case c == '%':
			hi, ok1 := lowerHex(p.next())
			lo, ok2 := lowerHex(p.next())
			if !ok1 || !ok2 {
				return false
			}
			b = append(b, hi<<4|lo)
		case c == '"':
			if !utf8.Valid(b) {
				return false
			}
			m.str = string(b)
			return true
		default:
			b = append(b, c)
		}
	}
	return false
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// parseTargeted reads a targeted cache-control field (RFC 9213 2.1): a
// Dictionary whose members are cache directives. ok is false when the
// field is empty or not a valid Dictionary: then it is ignored as a whole.
// A directive whose value is not of the type its definition implies
// (max-age=1.5, max-age="60", no-store=1) is not used (RFC 9213 2.1:
// implementations SHOULD NOT consume such values); a repeated directive
// takes the last value, as a Dictionary does.
func parseTargeted(lines []string) (d directives, ok bool) {
	d = directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	n := 0
	valid := parseSFDictionary(lines, func(m *sfMember) {
		n++
		d.setTargeted(m)
	})
	if !valid || n == 0 {
		return directives{}, false
	}
	return d, true
}

func (d *directives) setTargeted(m *sfMember) {
	flag := m.kind == sfBoolean && m.boolean
	if p := d.responseDelta(m.key); p != nil {
		*p = targetedDelta(m)
		return
	}
	if p := d.responseFlag(m.key); p != nil {
		*p = flag
		return
	}
	switch m.key {
	case "no-cache":
		// A String names fields; like Cache-Control's qualified no-cache it
		// is treated as unqualified (stricter).
		d.noCache = flag || m.kind == sfString
	case "private":
		d.private, d.privateFields = flag, nil
		if m.kind == sfString {
			// As Cache-Control's private="": an empty list is unqualified.
			d.private = m.str == ""
			d.addPrivateFields(m.str)
		}
	}
}

// targetedDelta is a delta-seconds directive's value: a non-negative
// Integer, capped like delta-seconds (RFC 9111 1.2.2); anything else is
// not used (-1, absent).
func targetedDelta(m *sfMember) int64 {
	if m.kind != sfInteger || m.integer < 0 {
		return -1
	}
	return min(m.integer, maxDelta)
}
