package h1server

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// readHead returns the request head (through its blank line) without
// consuming it. A head that does not fit the buffer (or MaxHeaderBytes) is
// returned incomplete with ok true; parse then declines it, so the fallback
// answers it. ok is false when the connection failed or timed out.
func (cn *conn) readHead() (head []byte, ok bool) {
	limit := ReadBufferSize
	if m := cn.srv.MaxHeaderBytes; m > 0 && m < limit {
		limit = m
	}
	from := 0
	for {
		buf, _ := cn.br.Peek(cn.br.Buffered())
		if i := bytes.Index(buf[from:], lflf); i >= 0 {
			// Bare line feeds: never a head served here; parse declines it.
			return buf[:from+i+len(lflf)], true
		}
		if i := bytes.Index(buf[from:], crlfcrlf); i >= 0 {
			end := from + i + len(crlfcrlf)
			if end > limit {
				return buf, true
			}
			return buf[:end], true
		}
		if len(buf) >= limit {
			return buf, true
		}
		from = max(0, len(buf)-len(crlfcrlf)+1)
		if _, err := cn.br.Peek(len(buf) + 1); err != nil {
			return nil, false
		}
	}
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
)

// parse fills r from a complete head, or declines (false) any head this
// server does not serve: then the fallback reads it afresh. The header map
// and URL are the connection's, reused from request to request.
func (cn *conn) parse(head []byte, r *http.Request) bool {
	if !bytes.HasSuffix(head, crlfcrlf) {
		return false
	}
	line, rest, _ := bytes.Cut(head, crlf)
	method, target, proto, ok := requestLine(line)
	if !ok {
		return false
	}
	if cn.header == nil {
		cn.header = make(http.Header, 16)
	}
	clear(cn.header)
	resetRequest(r)
	r.Method, r.Proto, r.Header, r.RemoteAddr, r.TLS = method, proto, cn.header, cn.remote, cn.tlsState
	if proto == "HTTP/1.0" {
		r.ProtoMinor = 0
	}
	var hosts int
	var keepAlive bool
	for len(rest) > len(crlf) {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := headerLine(line)
		if !ok {
			return false
		}
		key, v := canonicalKey(name), string(value)
		switch key {
		case "Content-Length", "Transfer-Encoding", "Upgrade", "Expect", "Http2-Settings", "Trailer":
			return false
		case "Host":
			hosts++
			if hosts > 1 || !httpguts.ValidHostHeader(v) {
				return false
			}
			r.Host = v
			continue
		case "Connection":
			vs := []string{v}
			if httpguts.HeaderValuesContainsToken(vs, "upgrade") {
				return false
			}
			r.Close = r.Close || httpguts.HeaderValuesContainsToken(vs, "close")
			keepAlive = keepAlive || httpguts.HeaderValuesContainsToken(vs, "keep-alive")
		}
		r.Header[key] = append(r.Header[key], v)
	}
	if hosts == 0 && r.ProtoMinor == 1 {
		return false
	}
	if r.ProtoMinor == 0 && !keepAlive {
		r.Close = true
	}
	u, ok := cn.parseTarget(target)
	if !ok {
		return false
	}
	r.URL, r.RequestURI = u, target
	fixPragmaCacheControl(r.Header)
	return true
}

// parseTarget parses an origin-form target. A plain one (no escapes, no
// fragment) fills the connection's URL, slicing the target; anything else
// goes through url.ParseRequestURI.
func (cn *conn) parseTarget(target string) (*url.URL, bool) {
	path, query, hasQuery := strings.Cut(target, "?")
	if !plainPath(path) || strings.IndexByte(query, '#') >= 0 {
		u, err := url.ParseRequestURI(target)
		return u, err == nil
	}
	cn.url = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return &cn.url, true
}

// plainPath reports whether the path is its own escaped form (so URL needs
// no RawPath): only bytes net/url never escapes in a path.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !pathSafe[p[i]] {
			return false
		}
	}
	return true
}

var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~/$&+,:;=@" {
		t[c] = true
	}
	return t
}()

var crlf = []byte("\r\n")

// resetRequest clears every exported field of a reused request, leaving its
// context (which only WithContext can set). TestResetRequestCoversEveryField
// fails when net/http adds a field.
func resetRequest(r *http.Request) {
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = "", nil, "", 1, 1
	r.Header, r.Body, r.GetBody, r.ContentLength = nil, http.NoBody, nil, 0
	r.TransferEncoding, r.Close, r.Host = nil, false, ""
	r.Form, r.PostForm, r.MultipartForm, r.Trailer = nil, nil, nil, nil
	r.RemoteAddr, r.RequestURI, r.TLS, r.Cancel, r.Response, r.Pattern = "", "", nil, nil, nil, ""
}

// requestLine takes "GET /path HTTP/1.1" (GET or HEAD, origin-form target).
func requestLine(line []byte) (method, target, proto string, ok bool) {
	m, rest, ok1 := bytes.Cut(line, []byte(" "))
	t, p, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(t) == 0 || t[0] != '/' {
		return "", "", "", false
	}
	switch string(m) {
	case "GET":
		method = http.MethodGet
	case "HEAD":
		method = http.MethodHead
	default:
		return "", "", "", false
	}
	switch string(p) {
	case "HTTP/1.1":
		proto = "HTTP/1.1"
	case "HTTP/1.0":
		proto = "HTTP/1.0"
	default:
		return "", "", "", false
	}
	for _, b := range t {
		if b <= ' ' || b >= 0x7f {
			return "", "", "", false
		}
	}
	return method, string(t), proto, true
}

// headerLine splits "Name: value", trimming the value's optional
// whitespace. Folded lines, whitespace before the colon and invalid bytes
// are declined.
func headerLine(line []byte) (name, value []byte, ok bool) {
	name, value, ok = bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 {
		return nil, nil, false
	}
	for _, b := range name {
		if !httpguts.IsTokenRune(rune(b)) {
			return nil, nil, false
		}
	}
	value = bytes.Trim(value, " \t")
	for _, b := range value {
		if (b < ' ' && b != '\t') || b == 0x7f {
			return nil, nil, false
		}
	}
	return name, value, true
}

// canonicalKey is textproto's canonical form, without allocating for the
// common names.
func canonicalKey(name []byte) string {
	if k, ok := commonKeys[string(name)]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Cookie", "Dnt",
		"Expect", "Forwarded", "Host", "Http2-Settings", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Origin", "Pragma", "Priority",
		"Range", "Referer", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Upgrade-Insecure-Requests", "User-Agent", "Via", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
		"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Keep-Alive",
	} {
		for _, spelling := range []string{k, lower(k)} {
			m[spelling] = k
		}
	}
	return m
}()

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// fixPragmaCacheControl does what net/http does: a request with
// "Pragma: no-cache" and no Cache-Control means "Cache-Control: no-cache"
// (RFC 9111 §5.4).
func fixPragmaCacheControl(h http.Header) {
	if hp, ok := h["Pragma"]; ok && len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}
