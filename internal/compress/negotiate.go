package compress

import (
	"strconv"
	"strings"
)

// Content codings levee produces.
const (
	Gzip   = "gzip"
	Brotli = "br"
	Zstd   = "zstd"
)

// maxCodingsParsed bounds the work spent on one Accept-Encoding header: a
// client listing more codings than this gets the ones it listed first.
const maxCodingsParsed = 16

// negotiate picks the coding for a request's Accept-Encoding values
// (RFC 9110 12.5.3): the highest q-value among the codings levee offers,
// ties broken by offer order (levee's preference); "*" rates every
// coding the client did not name. "" means identity: no header, nothing
// acceptable, or everything offered refused with q=0.
func negotiate(values []string, offer []string) string {
	if len(values) == 0 {
		return ""
	}
	var q [8]int // per offered coding, in thousandths; -1: not named
	for i := range q {
		q[i] = -1
	}
	star := -1
	parsed := 0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if parsed == maxCodingsParsed {
				break
			}
			name, qv, ok := parseCoding(part)
			if !ok {
				continue
			}
			parsed++
			if name == "*" {
				star = qv
				continue
			}
			for i, o := range offer {
				if i < len(q) && strings.EqualFold(name, o) {
					q[i] = qv
				}
			}
		}
	}
	best, bestQ := "", 0
	for i, o := range offer {
		if i >= len(q) {
			break
		}
		v := q[i]
		if v < 0 {
			v = star
		}
		if v > bestQ {
			best, bestQ = o, v
		}
	}
	return best
}

// parseCoding parses one "coding;q=0.5" element; q defaults to 1 (1000).
func parseCoding(s string) (name string, q int, ok bool) {
	name, params, _ := strings.Cut(s, ";")
	name = strings.TrimSpace(name)
	if name == "" {
		return "", 0, false
	}
	q = 1000
	for p := range strings.SplitSeq(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return "", 0, false // a malformed weight: ignore the element
		}
		q = int(f*1000 + 0.5)
	}
	return name, q, true
}
