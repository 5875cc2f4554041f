package h1server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"levee/internal/httpwire"
)

// A handler that gives its head as wire bytes: the client gets the
// status, the header map's fields less those the wire fields replace, the
// wire fields, one Date and the length; keep-alive is decided as for any
// head, and a head the writer cannot take that way is declined untouched.
func TestWireHead(t *testing.T) {
	const fields = "Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nCache-Status: origin\r\n"
	declined := make(chan string, 1)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Status", "edge")
		h.Set("X-Request-Id", "abc")
		hw := w.(httpwire.HeadWriter)
		switch r.URL.Path {
		case "/dated":
			hw.WriteWireHead(203, 5, []byte(fields+"Date: Mon, 07 Dec 2026 11:36:35 GMT\r\n"), true)
		case "/preset-length":
			h.Set("Content-Length", "5")
			if hw.WriteWireHead(200, 5, []byte(fields), false) {
				declined <- "a head with Content-Length in the map was taken"
				return
			}
			declined <- ""
			w.WriteHeader(200)
		case "/twice":
			w.WriteHeader(200)
			if hw.WriteWireHead(200, 5, []byte(fields), false) {
				declined <- "a second head was taken"
				return
			}
			declined <- ""
		default:
			if !hw.WriteWireHead(200, 5, []byte(fields), false) {
				t.Error("a plain head was declined")
			}
		}
		io.WriteString(w, "hello")
	}), nil)
	c, br := hs.dial()

	res := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	h := res.Header
	if res.StatusCode != 200 || res.ContentLength != 5 || body(t, res) != "hello" || res.Close {
		t.Fatalf("status %d length %d close %v", res.StatusCode, res.ContentLength, res.Close)
	}
	if got := strings.Join(h["Set-Cookie"], "|"); got != "a=1|b=2" {
		t.Errorf("Set-Cookie %q, want both in order", got)
	}
	if got := h["Cache-Status"]; len(got) != 1 || got[0] != "origin" {
		t.Errorf("Cache-Status %q: the wire field must replace the map's", got)
	}
	if h.Get("X-Request-Id") != "abc" || h.Get("Content-Type") != "text/plain" || len(h["Date"]) != 1 {
		t.Errorf("header %v", h)
	}

	res = roundTrip(t, c, br, "GET /dated HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if res.StatusCode != 203 || body(t, res) != "hello" || len(res.Header["Date"]) != 1 ||
		res.Header.Get("Date") != "Mon, 07 Dec 2026 11:36:35 GMT" {
		t.Fatalf("dated: %d %v", res.StatusCode, res.Header)
	}

	for _, path := range []string{"/preset-length", "/twice"} {
		res = roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if msg := <-declined; msg != "" {
			t.Fatal(msg)
		}
		if res.StatusCode != 200 || body(t, res) != "hello" {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
	}

	// The client's wish to close, and HTTP/1.0's keep-alive, as for any head.
	res = roundTrip(t, c, br, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET")
	if res.Close || res.Header.Get("Connection") != "keep-alive" || body(t, res) != "hello" {
		t.Fatalf("1.0 keep-alive: close=%v %v", res.Close, res.Header)
	}
	res = roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET")
	if !res.Close || body(t, res) != "hello" {
		t.Fatalf("Connection: close not honoured: %v", res.Header)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: %v, want EOF", err)
	}
}

// Heads that cannot go as wire bytes are declined: HEAD (no body follows),
// 204 and 304, an unknown length.
func TestWireHeadDeclined(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := w.(httpwire.HeadWriter)
		code, length := 200, int64(5)
		switch r.URL.Path {
		case "/204":
			code = 204
		case "/304":
			code = 304
		case "/unknown":
			length = -1
		}
		if hw.WriteWireHead(code, length, []byte("X-A: 1\r\n"), false) {
			t.Errorf("%s %s: taken", r.Method, r.URL.Path)
		}
		w.WriteHeader(200)
	}), nil)
	c, br := hs.dial()
	for _, rq := range []struct{ method, path string }{{"HEAD", "/"}, {"GET", "/204"}, {"GET", "/304"}, {"GET", "/unknown"}} {
		res := roundTrip(t, c, br, rq.method+" "+rq.path+" HTTP/1.1\r\nHost: x\r\n\r\n", rq.method)
		body(t, res)
		if res.StatusCode != 200 {
			t.Fatalf("%s %s: %d", rq.method, rq.path, res.StatusCode)
		}
	}
}
