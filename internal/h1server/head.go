package h1server

import (
	"bufio"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"levee/internal/httpwire"
)

var _ httpwire.HeadWriter = (*response)(nil)

// sendHead decides the framing and writes the status line and header into
// the write buffer. first is the start of the body, for Content-Type
// sniffing; final means the handler returned without writing a body.
func (w *response) sendHead(first []byte, final bool) {
	w.headSent = true
	h, r := w.header, w.req
	w.noBody = r.Method == http.MethodHead || w.status == http.StatusNoContent ||
		w.status == http.StatusNotModified
	delete(h, "Transfer-Encoding")
	if w.status == http.StatusNoContent {
		delete(h, "Content-Length")
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 && len(cl) == 1 {
			w.length = n
		} else {
			delete(h, "Content-Length")
		}
	}
	bodyAllowed := w.status != http.StatusNoContent && w.status != http.StatusNotModified
	switch {
	case !bodyAllowed || w.length >= 0:
	case final && r.Method != http.MethodHead:
		w.length = 0
		h["Content-Length"] = []string{"0"}
	case r.Method == http.MethodHead:
		// A HEAD answer without a length says nothing about one.
	case r.ProtoMinor >= 1:
		w.chunked = true
	default:
		w.closeAfter = true
	}
	if _, ok := h["Content-Type"]; !ok && bodyAllowed && len(first) > 0 {
		h["Content-Type"] = []string{http.DetectContentType(first)}
	}
	w.decideConnection()
	if w.chunked {
		w.trailers = declaredTrailers(h)
	}

	bw := w.cn.bw
	writeStatusLine(bw, w.status)
	if _, ok := h["Date"]; !ok {
		writeField(bw, "Date", httpDate())
	}
	for k, vv := range h {
		if w.excluded(k) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

// WriteWireHead sends a final head whose fields come as wire bytes
// (httpwire.HeadWriter): the status line, the header map's fields but
// those fields replaces, fields as they are, and the body's length. It
// takes only a head with a body of known length, before anything was
// sent, with no framing or trailer set in the map; otherwise it returns
// false and the handler writes the head the usual way.
func (w *response) WriteWireHead(code int, length int64, fields []byte, hasDate bool) bool {
	h := w.header
	if w.wroteHeader || w.done || code < 200 || code > 999 || code == http.StatusNoContent ||
		code == http.StatusNotModified || w.req.Method == http.MethodHead || length < 0 {
		return false
	}
	if h["Content-Length"] != nil || h["Transfer-Encoding"] != nil || h["Trailer"] != nil {
		return false
	}
	w.wroteHeader, w.headSent, w.status, w.length = true, true, code, length
	w.decideConnection()
	bw := w.cn.bw
	writeStatusLine(bw, code)
	if _, ok := h["Date"]; !ok && !hasDate {
		writeField(bw, "Date", httpDate())
	}
	for k, vv := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || httpwire.Has(fields, k) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	bw.Write(fields)
	line := append(bw.AvailableBuffer(), "Content-Length: "...)
	line = strconv.AppendInt(line, length, 10)
	line = append(line, "\r\n\r\n"...)
	bw.Write(line)
	return true
}

// decideConnection settles keep-alive: the client's wish, the handler's
// "Connection: close", a server shutting down, and HTTP/1.0's rules.
func (w *response) decideConnection() {
	h, r := w.header, w.req
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	if r.Close || w.cn.srv.shutting.Load() {
		w.closeAfter = true
	}
	if w.closeAfter {
		h["Connection"] = []string{"close"}
		return
	}
	if r.ProtoMinor == 0 {
		h["Connection"] = []string{"keep-alive"}
	}
}

// excluded names the fields that are not part of the head: trailers.
func (w *response) excluded(k string) bool {
	return strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(w.trailers, k)
}

// declaredTrailers are the canonical names listed in the "Trailer" field.
func declaredTrailers(h http.Header) []string {
	var names []string
	for _, list := range h["Trailer"] {
		for _, n := range strings.Split(list, ",") {
			names = append(names, http.CanonicalHeaderKey(strings.TrimSpace(n)))
		}
	}
	return names
}

func writeStatusLine(bw *bufio.Writer, code int) {
	if code == http.StatusOK {
		bw.WriteString("HTTP/1.1 200 OK\r\n")
		return
	}
	line := append(bw.AvailableBuffer(), "HTTP/1.1 "...)
	line = strconv.AppendInt(line, int64(code), 10)
	line = append(line, ' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	line = append(line, text...)
	line = append(line, "\r\n"...)
	bw.Write(line)
}

// writeField writes one header line; invalid names are skipped and line
// breaks in values become spaces, as net/http does.
func writeField(bw *bufio.Writer, k, v string) {
	if !httpguts.ValidHeaderFieldName(k) {
		return
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = lineBreaks.Replace(v)
	}
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// httpDate is the Date value, formatted once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]
