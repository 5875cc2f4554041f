package cache

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// key is a request's cache key, built into a reused buffer. The first
// urlLen bytes are host + path + keyed query: the URL purges match.
type key struct {
	buf    []byte
	urlLen int
}

// build writes r's primary key by the rules: [host] path [?query], then
// chosen headers and cookies.
func (k *key) build(ru *Rules, r *http.Request) {
	b := k.buf[:0]
	if !ru.IgnoreHost {
		b = appendLower(b, hostNoPort(r.Host))
	}
	path, query := rawPathQuery(r)
	b = append(b, path...)
	switch {
	case query == "" || ru.Query == "ignore":
	case ru.Query == "keep" && ru.DropParams == nil:
		b = append(b, '?')
		b = append(b, query...)
	default:
		b = appendQuery(b, query, ru.Query == "sort", ru.DropParams)
	}
	k.urlLen = len(b)
	for _, h := range ru.KeyHeaders {
		b = append(b, "\x00h:"...)
		b = append(b, h...)
		b = append(b, '=')
		for i, v := range r.Header[h] {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, v...)
		}
	}
	for _, c := range ru.KeyCookies {
		b = append(b, "\x00c:"...)
		b = append(b, c...)
		b = append(b, '=')
		if ck, err := r.Cookie(c); err == nil {
			b = append(b, ck.Value...)
		}
	}
	k.buf = b
}

// variant appends the Vary selection of marker m to the primary key.
func (k *key) variant(m *Object, r *http.Request) {
	b := append(k.buf, "\x00v:"...)
	b = strconv.AppendUint(b, m.Nonce, 16)
	for _, name := range m.VaryNames {
		b = append(b, 0)
		b = append(b, name...)
		b = append(b, '=')
		b = appendNormalized(b, r.Header[name])
	}
	k.buf = b
}

func (k *key) hash() uint64 { return xxhash.Sum64(k.buf) }

// appendQuery appends "?" and the query with dropped parameters removed,
// sorted if asked; nothing if no parameter is left.
func appendQuery(b []byte, query string, sorted bool, drop map[string]bool) []byte {
	parts := strings.Split(query, "&")
	kept := parts[:0]
	for _, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if p == "" || drop[name] {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return b
	}
	if sorted {
		sort.Strings(kept)
	}
	b = append(b, '?')
	for i, p := range kept {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p...)
	}
	return b
}

// appendNormalized appends a Vary-selected header's values normalised:
// list members trimmed, lowercased, whitespace removed and sorted, so
// "gzip, br" and "br,gzip" select the same variant.
func appendNormalized(b []byte, values []string) []byte {
	if len(values) == 0 {
		return b
	}
	if len(values) == 1 && simpleToken(values[0]) {
		return appendLower(b, values[0])
	}
	var items []string
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			f = strings.ToLower(strings.Join(strings.Fields(f), ""))
			if f != "" {
				items = append(items, f)
			}
		}
	}
	sort.Strings(items)
	return append(b, strings.Join(items, ",")...)
}

func simpleToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == ' ' || c == '\t' || c == ';' {
			return false
		}
	}
	return true
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// hostNoPort drops the port and a trailing dot from a Host value.
func hostNoPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// varyNames returns the canonical names listed by Vary fields.
func varyNames(values []string) []string {
	var out []string
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, http.CanonicalHeaderKey(f))
			}
		}
	}
	sort.Strings(out)
	return out
}

// hashKey hashes a stored key as key.hash does.
func hashKey(k string) uint64 { return xxhash.Sum64String(k) }
