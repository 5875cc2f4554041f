package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"levee/internal/pipeline"
)

// hopHeaders are connection-scoped (RFC 9110 7.6.1) and never forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopHeaders deletes hop-by-hop headers, including those the
// Connection header names.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// Shared single-value slices; len == cap, so an append elsewhere copies
// instead of writing into them.
var (
	via       = []string{"1.1 levee"}
	protoHTTP = []string{"http"}
	protoTLS  = []string{"https"}
)

// setForwarded writes X-Forwarded-For/-Proto/-Host and Forwarded. Incoming
// values are extended when the peer is a trusted proxy and replaced
// otherwise, so an untrusted client cannot forge its address.
func setForwarded(h http.Header, r *http.Request, ex *pipeline.Exchange) {
	peer := peerHost(r.RemoteAddr)
	proto, protoVal := "http", protoHTTP
	if r.TLS != nil {
		proto, protoVal = "https", protoTLS
	}
	// One backing array for the new values saves three allocations.
	vals := make([]string, 3)
	vals[2] = forwardedElement(peer, proto, r.Host)
	if ex.Trusted {
		vals[0] = peer
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			vals[0] = strings.Join(prior, ", ") + ", " + peer
		}
		h["X-Forwarded-For"] = vals[0:1:1]
		if h.Get("X-Forwarded-Proto") == "" {
			h["X-Forwarded-Proto"] = protoVal
		}
		if h.Get("X-Forwarded-Host") == "" {
			vals[1] = r.Host
			h["X-Forwarded-Host"] = vals[1:2:2]
		}
		h["Forwarded"] = append(h["Forwarded"], vals[2])
	} else {
		vals[0], vals[1] = peer, r.Host
		h["X-Forwarded-For"] = vals[0:1:1]
		h["X-Forwarded-Proto"] = protoVal
		h["X-Forwarded-Host"] = vals[1:2:2]
		h["Forwarded"] = vals[2:3:3]
	}
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = append(prior[:len(prior):len(prior)], via[0])
	} else {
		h["Via"] = via
	}
}

// peerHost returns the address part of a RemoteAddr ("1.2.3.4:5" or
// "[::1]:5") without allocating.
func peerHost(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	host := remote[:i]
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host
}

// forwardedElement builds one RFC 7239 element; IPv6 addresses and hosts
// that are not plain tokens are quoted.
func forwardedElement(peer, proto, host string) string {
	var sb strings.Builder
	sb.Grow(len(peer) + len(host) + 32)
	b := make([]byte, 0, 64)
	b = append(b, "for="...)
	if strings.IndexByte(peer, ':') >= 0 {
		b = append(b, `"[`...)
		b = append(b, peer...)
		b = append(b, `]"`...)
	} else {
		b = append(b, peer...)
	}
	b = append(b, ";proto="...)
	b = append(b, proto...)
	if host != "" {
		b = append(b, ";host="...)
		b = appendMaybeQuoted(b, host)
	}
	sb.Write(b)
	return sb.String()
}

// appendMaybeQuoted appends s as an RFC 7230 token, or as a quoted string
// when it holds anything else (a port's colon, for one).
func appendMaybeQuoted(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// upgradeType returns the protocol a request asks to upgrade to, if its
// Connection header carries the upgrade token.
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}
