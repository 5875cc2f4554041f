package proxy

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest/raworigin"
)

// An origin head of the kind real servers send: names in any case,
// hop-by-hop fields, a repeated field, padded values, a Date.
const wireOriginHead = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nKeep-Alive: timeout=2\r\n" +
	"Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n" +
	"X-Padded: \t v \r\nCache-Status: origin\r\nDate: Mon, 07 Dec 2026 11:36:35 GMT\r\n" +
	"Content-Length: 05\r\n\r\nhello"

// wireRecorder is a client writer that takes wire heads, recording them.
type wireRecorder struct {
	*httptest.ResponseRecorder
	fields  string
	length  int64
	hasDate bool
}

func (w *wireRecorder) WriteWireHead(code int, length int64, fields []byte, hasDate bool) bool {
	w.fields, w.length, w.hasDate = string(fields), length, hasDate
	w.WriteHeader(code)
	return true
}

// clientHeader is what a client of w would see in the head: the map's
// fields less those the wire fields replace, then the wire fields.
func (w *wireRecorder) clientHeader() http.Header {
	h := w.Header().Clone()
	wire := http.Header{}
	for _, line := range strings.Split(strings.TrimSuffix(w.fields, "\r\n"), "\r\n") {
		k, v, _ := strings.Cut(line, ": ")
		wire[k] = append(wire[k], v)
	}
	for k, vv := range wire {
		h[k] = vv
	}
	h["Content-Length"] = []string{strconv.FormatInt(w.length, 10)}
	return h
}

// The proxy streams a head read as wire bytes to a writer that takes them,
// and builds the header map for one that does not: the client sees the
// same fields either way, as the map path gave them before.
func TestWireHeadStreamsAsTheHeaderMapWould(t *testing.T) {
	o := raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string { return wireOriginHead }
	})
	tr := testH1(t)
	p := &Proxy{}
	get := func() *http.Response {
		r := httptest.NewRequest("GET", o.URL+"/", nil)
		r.RequestURI = ""
		res, err := tr.roundTrip(r, true, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Header != nil {
			t.Fatal("a plain head was read into a header map")
		}
		return res
	}

	wire := &wireRecorder{ResponseRecorder: httptest.NewRecorder()}
	wire.Header().Set("Cache-Status", "edge")
	wire.Header().Set("X-Request-Id", "abc")
	if err := p.stream(wire, nil, get()); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewRecorder()
	plain.Header().Set("Cache-Status", "edge")
	plain.Header().Set("X-Request-Id", "abc")
	if err := p.stream(plain, nil, get()); err != nil {
		t.Fatal(err)
	}

	if wire.fields == "" || !wire.hasDate || wire.length != 5 || wire.Body.String() != "hello" {
		t.Fatalf("wire head: fields %q date %v length %d body %q", wire.fields, wire.hasDate, wire.length, wire.Body)
	}
	want := plain.Header()
	want["Content-Length"] = []string{"5"} // the map path passes "05" on as it came
	if got := wire.clientHeader(); !reflect.DeepEqual(got, want) || plain.Body.String() != "hello" {
		t.Fatalf("client header\nwire   %v\nmap    %v", got, want)
	}
	for _, hop := range []string{"Keep-Alive", "Proxy-Connection", "Connection"} {
		if strings.Contains(wire.fields, hop+":") {
			t.Errorf("hop-by-hop %s forwarded: %q", hop, wire.fields)
		}
	}
	// The origin's Keep-Alive: timeout=2 shortened the pooled connection's
	// idle time on the wire path too.
	tr.mu.Lock()
	stack := tr.idle[originKey{"http", o.Addr}]
	tr.mu.Unlock()
	if len(stack) != 1 || stack[0].idleFor <= 0 || stack[0].idleFor >= 2*time.Second {
		t.Fatalf("idle connections %d, idle timeout after Keep-Alive: timeout=2 not shortened", len(stack))
	}
}

// A head the wire form cannot carry (a Connection naming a field to drop)
// is read into a header map, and that field does not reach the client.
func TestWireHeadConnectionNamingAFieldTakesTheMap(t *testing.T) {
	o := raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string {
			return "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok"
		}
	})
	tr := testH1(t)
	r := httptest.NewRequest("GET", o.URL+"/", nil)
	r.RequestURI = ""
	res, err := tr.roundTrip(r, true, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header == nil {
		t.Fatal("read as wire bytes")
	}
	w := &wireRecorder{ResponseRecorder: httptest.NewRecorder()}
	if err := (&Proxy{}).stream(w, nil, res); err != nil {
		t.Fatal(err)
	}
	if w.fields != "" || w.Header().Get("X-Hop") != "" || w.Body.String() != "ok" {
		t.Fatalf("fields %q header %v body %q", w.fields, w.Header(), w.Body)
	}
}
