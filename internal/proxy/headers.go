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

// via is shared, never appended to in place (len == cap).
var via = []string{"1.1 levee"}

// setForwarded writes X-Forwarded-For/-Proto/-Host and Forwarded. Incoming
// values are extended when the peer is a trusted proxy and replaced
// otherwise, so an untrusted client cannot forge its address.
func setForwarded(h http.Header, r *http.Request, ex *pipeline.Exchange) {
	peer := ex.Peer.String()
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if ex.Trusted {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			h["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + peer}
		} else {
			h["X-Forwarded-For"] = []string{peer}
		}
		if h.Get("X-Forwarded-Proto") == "" {
			h["X-Forwarded-Proto"] = []string{proto}
		}
		if h.Get("X-Forwarded-Host") == "" {
			h["X-Forwarded-Host"] = []string{r.Host}
		}
		h["Forwarded"] = append(h["Forwarded"], forwardedElement(peer, proto, r.Host))
	} else {
		h["X-Forwarded-For"] = []string{peer}
		h["X-Forwarded-Proto"] = []string{proto}
		h["X-Forwarded-Host"] = []string{r.Host}
		h["Forwarded"] = []string{forwardedElement(peer, proto, r.Host)}
	}
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = append(prior[:len(prior):len(prior)], via[0])
	} else {
		h["Via"] = via
	}
}

// forwardedElement builds one RFC 7239 element; IPv6 addresses and hosts
// with unusual characters are quoted.
func forwardedElement(peer, proto, host string) string {
	var b strings.Builder
	b.Grow(len(peer) + len(host) + 32)
	b.WriteString("for=")
	if strings.Contains(peer, ":") {
		b.WriteString(`"[` + peer + `]"`)
	} else {
		b.WriteString(peer)
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	if host != "" {
		b.WriteString(";host=")
		b.WriteString(quoteIfNeeded(host))
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
		}
	}
	return s
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
