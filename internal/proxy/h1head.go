package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// leanHead is a response head read by readLeanHead: what http.ReadResponse
// would have made of it, with the body framing it implies.
type leanHead struct {
	res    *http.Response
	length int64 // Content-Length: the body's exact size
	// wire, when set, holds the head's fields (res.Header is nil).
	wire *wireHead
}

// readLeanHead parses a response head already whole in br's buffer, the
// usual case for a small answer on a kept-alive connection, without
// http.ReadResponse's per-line allocations: one string for the whole head,
// keys and values cut from it, one slice backing every value.
//
// It takes only the plainest heads: an HTTP/1.1 final status with a body
// (not 1xx, 204 or 304, not an answer to HEAD), CRLF line ends, keys of
// letters, digits and '-', values of visible bytes, spaces and tabs, no
// folded lines, exactly one Content-Length of digits, no Transfer-Encoding,
// Trailer or "Connection: close". For any other head it consumes nothing
// and returns ok false: http.ReadResponse then reads it, with its own
// rules and errors. What it accepts it reads as http.ReadResponse does
// (FuzzLeanHead checks it).
//
// With wh set, the head is read into wh instead of an http.Header when it
// can be (parseWireHead): lh.res.Header is then nil and lh.wire is wh.
func readLeanHead(br *bufio.Reader, r *http.Request, wh *wireHead) (leanHead, bool) {
	if r.Method == http.MethodHead {
		return leanHead{}, false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return leanHead{}, false
	}
	head := buf[:end+2] // each line with its CRLF
	var lh leanHead
	ok := false
	if wh != nil {
		lh.res, lh.length, ok = parseWireHead(head, wh)
		if ok {
			lh.wire = wh
		}
	}
	if !ok {
		if lh, ok = parseLeanHead(head); !ok {
			return leanHead{}, false
		}
	}
	lh.res.Request = r
	br.Discard(end + 4)
	return lh, true
}

var crlfcrlf = []byte("\r\n\r\n")

// parseLeanHead parses head, its status line and header lines each ending
// in CRLF, without the blank line.
func parseLeanHead(head []byte) (leanHead, bool) {
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		return leanHead{}, false
	}
	code, ok := leanStatus(head[:nl+1])
	if !ok {
		return leanHead{}, false
	}
	lines := bytes.Count(head, crlf) - 1
	if bytes.Count(head, lf) != lines+1 { // a bare LF somewhere
		return leanHead{}, false
	}
	s := string(head) // the one copy the keys and values share
	vals := make([]string, lines)
	h := make(http.Header, lines)
	length := int64(-1)
	rest := s[nl+1:]
	for i := 0; i < lines; i++ {
		eol := indexCRLF(rest)
		key, value, ok := leanField(rest[:eol])
		if !ok {
			return leanHead{}, false
		}
		rest = rest[eol+2:]
		switch key {
		case "Content-Length":
			if length >= 0 {
				return leanHead{}, false
			}
			if length = leanLength(value); length < 0 {
				return leanHead{}, false
			}
		case "Transfer-Encoding", "Trailer":
			return leanHead{}, false
		}
		vals[i] = value
		if vv := h[key]; vv != nil {
			h[key] = append(vv, value)
		} else {
			h[key] = vals[i : i+1 : i+1]
		}
	}
	if length < 0 || httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		return leanHead{}, false
	}
	res := &http.Response{
		Status: s[len("HTTP/1.1 ") : nl-1], StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: length,
	}
	return leanHead{res: res, length: length}, true
}

var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

func indexCRLF(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return i
		}
	}
	return len(s)
}

// leanStatus reads "HTTP/1.1 NNN reason\r\n" for a status from 200 to 599
// other than 204 and 304 (those have no body).
func leanStatus(line []byte) (int, bool) {
	const proto = "HTTP/1.1 "
	if len(line) < len(proto)+3+2 || string(line[:len(proto)]) != proto {
		return 0, false
	}
	d := line[len(proto) : len(proto)+3]
	if d[0] < '2' || d[0] > '5' || !isDigit(d[1]) || !isDigit(d[2]) {
		return 0, false
	}
	code := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	if code == http.StatusNoContent || code == http.StatusNotModified {
		return 0, false
	}
	reason := line[len(proto)+3 : len(line)-2]
	if len(reason) > 0 && reason[0] != ' ' {
		return 0, false
	}
	for _, c := range reason {
		if !leanValueByte(c) {
			return 0, false
		}
	}
	return code, true
}

// leanField splits "Key: value" into its canonical key and its value
// trimmed of spaces and tabs.
func leanField(line string) (string, string, bool) {
	colon := strings.IndexByte(line, ':')
	if colon <= 0 || !leanKey(line[:colon]) || !leanValue(line[colon+1:]) {
		return "", "", false
	}
	return http.CanonicalHeaderKey(line[:colon]), trimSPHT(line[colon+1:]), true
}

// leanKey reports whether k is a field name the lean path takes: letters,
// digits and '-'.
func leanKey[T string | []byte](k T) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '-' || isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// leanValue reports whether every byte of v may be in a field value.
func leanValue[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if !leanValueByte(v[i]) {
			return false
		}
	}
	return true
}

// leanValueByte is a byte a field value may hold: visible ASCII, space,
// tab, or obs-text.
func leanValueByte(c byte) bool {
	return c >= 0x20 && c != 0x7f || c == '\t'
}

func trimSPHT[T string | []byte](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// leanLength parses a Content-Length of 1 to 18 digits, or returns -1.
func leanLength[T string | []byte](v T) int64 {
	if len(v) == 0 || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
