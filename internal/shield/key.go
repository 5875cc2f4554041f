package shield

import (
	"hash/maphash"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// Key part kinds.
const (
	partIP = iota
	partPrefix
	partPath
	partHeader
	partCookie
)

// keyPart is one component of a rate-limit key.
type keyPart struct {
	kind int
	name string // canonical header name or cookie name
}

func parseKey(spec []string) []keyPart {
	out := make([]keyPart, 0, len(spec))
	for _, s := range spec {
		kind, arg, _ := strings.Cut(s, ":")
		switch kind {
		case "ip":
			out = append(out, keyPart{kind: partIP})
		case "prefix":
			out = append(out, keyPart{kind: partPrefix})
		case "path":
			out = append(out, keyPart{kind: partPath})
		case "header":
			out = append(out, keyPart{kind: partHeader, name: textproto.CanonicalMIMEHeaderKey(arg)})
		case "cookie":
			out = append(out, keyPart{kind: partCookie, name: arg})
		}
	}
	return out
}

// keyHash hashes the key parts of r without allocating. ok is false when a
// header or cookie part is absent: the rule does not apply to the request.
func keyHash(seed maphash.Seed, parts []keyPart, r *http.Request, client netip.Addr) (sum uint64, ok bool) {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, p := range parts {
		switch p.kind {
		case partIP:
			b := client.As16()
			h.Write(b[:])
		case partPrefix:
			b := prefixOf(client).As16()
			h.Write(b[:])
		case partPath:
			h.WriteString(r.URL.Path)
		case partHeader:
			v := r.Header[p.name]
			if len(v) == 0 {
				return 0, false
			}
			h.WriteString(v[0])
		case partCookie:
			v, found := cookieValue(r.Header, p.name)
			if !found {
				return 0, false
			}
			h.WriteString(v)
		}
		h.WriteByte(0)
	}
	return h.Sum64(), true
}

// prefixOf masks a to its /24 (IPv4) or /64 (IPv6) network.
func prefixOf(a netip.Addr) netip.Addr {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a
	}
	return p.Addr()
}

// cookieValue finds a cookie by name without parsing every cookie into
// allocated structs, as r.Cookie does.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, _ := strings.Cut(part, "=")
			if k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}
