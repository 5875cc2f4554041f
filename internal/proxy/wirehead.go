package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// wireHead is a plain response head kept as the bytes the client is sent
// (httpwire.HeadWriter) instead of an http.Header: for a pass-through
// request the map was built only to be walked and written out again. It
// belongs to its connection and is reused by the connection's next
// response; nothing may keep fields past the response's body.
type wireHead struct {
	// fields are the head's lines as the client gets them: names
	// canonical, values trimmed, without Content-Length and the
	// hop-by-hop fields.
	fields []byte
	// keepAlive is the origin's Keep-Alive value, if it sent one.
	keepAlive   string
	hasDate     bool
	eventStream bool // Content-Type text/event-stream: flushed as it comes
}

// parseWireHead reads head (status line and field lines, each ending in
// CRLF, without the blank line) into wh, under the same rules as
// parseLeanHead. ok is false for a head the lean path does not take, and
// also for one with a field the wire form cannot carry (a Connection
// naming other fields), which parseLeanHead then reads.
func parseWireHead(head []byte, wh *wireHead) (res *http.Response, length int64, ok bool) {
	nl := bytes.IndexByte(head, '\n')
	if nl < 1 || head[nl-1] != '\r' {
		return nil, 0, false
	}
	code, ok := leanStatus(head[:nl+1])
	if !ok {
		return nil, 0, false
	}
	out := wh.fields[:0]
	*wh = wireHead{}
	sawType := false
	length = -1
	rest := head[nl+1:]
	for len(rest) > 0 {
		eol := bytes.Index(rest, crlf)
		if eol < 0 || bytes.IndexByte(rest[:eol], '\n') >= 0 {
			return nil, 0, false
		}
		line := rest[:eol]
		rest = rest[eol+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !leanKey(line[:colon]) || !leanValue(line[colon+1:]) {
			return nil, 0, false
		}
		start := len(out)
		out = appendCanonical(out, line[:colon])
		value := trimSPHT(line[colon+1:])
		drop := false
		switch string(out[start:]) {
		case "Content-Length":
			if length >= 0 {
				return nil, 0, false
			}
			if length = leanLength(value); length < 0 {
				return nil, 0, false
			}
			drop = true
		case "Transfer-Encoding", "Trailer":
			return nil, 0, false
		case "Connection":
			if !onlyKeepAlive(value) {
				return nil, 0, false
			}
			drop = true
		case "Keep-Alive":
			wh.keepAlive = joinValue(wh.keepAlive, value)
			drop = true
		case "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade":
			drop = true
		case "Date":
			wh.hasDate = true
		case "Content-Type":
			if !sawType { // the first value decides, as Header.Get reads it
				wh.eventStream, sawType = bytes.HasPrefix(value, eventStreamType), true
			}
		}
		if drop {
			out = out[:start]
			continue
		}
		out = append(out, ": "...)
		out = append(out, value...)
		out = append(out, "\r\n"...)
	}
	if length < 0 {
		return nil, 0, false
	}
	wh.fields = out
	res = &http.Response{
		Status: statusText(code, head[len("HTTP/1.1 "):nl-1]), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		ContentLength: length,
	}
	return res, length, true
}

var eventStreamType = []byte("text/event-stream")

// onlyKeepAlive reports whether a Connection value names nothing but
// keep-alive: "close" ends the lean path, and other names are fields to
// remove, which the header map path does.
func onlyKeepAlive(v []byte) bool {
	for len(v) > 0 {
		var tok []byte
		tok, v, _ = bytes.Cut(v, comma)
		if tok = bytes.TrimSpace(tok); len(tok) > 0 && !bytes.EqualFold(tok, keepAliveToken) {
			return false
		}
	}
	return true
}

var (
	comma          = []byte(",")
	keepAliveToken = []byte("keep-alive")
)

func joinValue(prior string, v []byte) string {
	if prior == "" {
		return string(v)
	}
	return prior + ", " + string(v)
}

// statusText is the status line's code and reason as a string, without
// an allocation for the usual "200 OK".
func statusText(code int, b []byte) string {
	if code == http.StatusOK && string(b) == "200 OK" {
		return "200 OK"
	}
	return string(b)
}

// header builds the http.Header the head would have had, for a writer
// that cannot take wire bytes or a picker that stamps the answer: one
// string shared by every key and value, so it outlives the connection's
// buffer.
func (wh *wireHead) header(length int64) http.Header {
	s := string(wh.fields)
	h := make(http.Header, strings.Count(s, "\n")+1)
	for s != "" {
		eol := strings.IndexByte(s, '\r')
		k, v, _ := strings.Cut(s[:eol], ": ")
		h[k] = append(h[k], v)
		s = s[eol+2:]
	}
	h["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	return h
}

// appendCanonical appends key in canonical form (http.CanonicalHeaderKey
// for names of letters, digits and '-').
func appendCanonical(out, key []byte) []byte {
	upper := true
	for _, c := range key {
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
		upper = c == '-'
	}
	return out
}
