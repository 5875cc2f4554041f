package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// leanHeads are heads readLeanHead must take (the first ones) or leave
// to net/http (those marked false).
var leanHeads = []struct {
	head string
	lean bool
}{
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", true},
	{"HTTP/1.1 404 Not Found\r\ncontent-length:3\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-E:\r\n\r\nabc", true},
	{"HTTP/1.1 503\r\nContent-Length: 0\r\nConnection: keep-alive\r\nX-T: \t a b \t\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Obs: caf\xc3\xa9\r\n\r\nok", true},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\n\r\nclose-delimited", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: a\rb\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTrailer: X\r\n\r\nok", false},
	{"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nKEEP-ALIVE: timeout=5\r\nproxy-connection: x\r\nDate: Mon, 07 Dec 2026 11:36:35 GMT\r\nContent-Length: 2\r\n\r\nok", true},
	{"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok", true},
	{"HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nTe: trailers\r\nContent-Length: 2\r\n\r\nok", true},
}

func TestLeanHeadTakesOnlyPlainHeads(t *testing.T) {
	for _, tc := range leanHeads {
		req, _ := http.NewRequest("GET", "http://o/", nil)
		br := bufio.NewReader(strings.NewReader(tc.head))
		br.Peek(1)
		_, ok := readLeanHead(br, req, nil)
		if ok != tc.lean {
			t.Errorf("%q: lean %v, want %v", tc.head, ok, tc.lean)
		}
		if !ok && br.Buffered() != len(tc.head) {
			t.Errorf("%q: a head left to net/http was consumed", tc.head)
		}
		compareWithNetHTTP(t, []byte(tc.head))
	}
	req, _ := http.NewRequest("HEAD", "http://o/", nil)
	br := bufio.NewReader(strings.NewReader(leanHeads[0].head))
	br.Peek(1)
	if _, ok := readLeanHead(br, req, nil); ok {
		t.Error("the answer to a HEAD request was read as having a body")
	}
}

// compareWithNetHTTP checks that a head readLeanHead takes reads the same
// through http.ReadResponse: status, headers, length, and the body bytes.
func compareWithNetHTTP(t *testing.T, data []byte) {
	req, _ := http.NewRequest("GET", "http://o/", nil)
	br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	br.Peek(1)
	lh, ok := readLeanHead(br, req, nil)
	if !ok {
		return
	}
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
	if err != nil {
		t.Fatalf("%q: taken by the lean parser, refused by net/http: %v", data, err)
	}
	got := lh.res
	if got.Status != want.Status || got.StatusCode != want.StatusCode || got.ContentLength != want.ContentLength ||
		got.Close != want.Close || got.Proto != want.Proto || !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q:\nlean %q %d %d close=%v %v\nnet/http %q %d %d close=%v %v", data,
			got.Status, got.StatusCode, got.ContentLength, got.Close, got.Header,
			want.Status, want.StatusCode, want.ContentLength, want.Close, want.Header)
	}
	compareWireHead(t, data, want)
	wantBody, werr := io.ReadAll(want.Body)
	gotBody := make([]byte, lh.length)
	n, gerr := io.ReadFull(br, gotBody)
	if (werr == nil) != (gerr == nil) || werr == nil && !bytes.Equal(gotBody[:n], wantBody) {
		t.Fatalf("%q: body %q (%v), net/http %q (%v)", data, gotBody[:n], gerr, wantBody, werr)
	}
}

func FuzzLeanHead(f *testing.F) {
	for _, tc := range leanHeads {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		compareWithNetHTTP(t, data)
	})
}

// compareWireHead checks that a head read as wire bytes says what net/http
// read, less the fields the proxy never forwards: status, length, and the
// fields once built into a header.
func compareWireHead(t *testing.T, data []byte, want *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://o/", nil)
	br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	br.Peek(1)
	var wh wireHead
	lh, ok := readLeanHead(br, req, &wh)
	if !ok {
		t.Fatalf("%q: taken by the lean parser, not with a wire head", data)
	}
	if lh.wire == nil {
		// A Connection naming other fields: the header map path.
		if lh.res.Header == nil {
			t.Fatalf("%q: neither a wire head nor a header", data)
		}
		return
	}
	if lh.res.Header != nil || lh.res.Status != want.Status || lh.res.StatusCode != want.StatusCode ||
		lh.length != want.ContentLength {
		t.Fatalf("%q: wire head %q %d %d, net/http %q %d %d", data, lh.res.Status, lh.res.StatusCode,
			lh.length, want.Status, want.StatusCode, want.ContentLength)
	}
	wantHeader := want.Header.Clone()
	removeHopHeaders(wantHeader)
	// The length goes on in its plain form ("00" as "0").
	wantHeader["Content-Length"] = []string{strconv.FormatInt(want.ContentLength, 10)}
	if got := wh.header(lh.length); !reflect.DeepEqual(got, wantHeader) {
		t.Fatalf("%q:\nwire %q\nnet/http less hop-by-hop %q", data, got, wantHeader)
	}
	_, hasDate := wantHeader["Date"]
	if wh.hasDate != hasDate {
		t.Fatalf("%q: hasDate %v, want %v", data, wh.hasDate, hasDate)
	}
	if es := strings.HasPrefix(want.Header.Get("Content-Type"), "text/event-stream"); wh.eventStream != es {
		t.Fatalf("%q: event stream %v, want %v", data, wh.eventStream, es)
	}
	if ka := strings.Join(want.Header["Keep-Alive"], ", "); wh.keepAlive != ka {
		t.Fatalf("%q: Keep-Alive %q, want %q", data, wh.keepAlive, ka)
	}
}
