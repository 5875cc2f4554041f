package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest/raworigin"
)

// countingWriter records each Write and can fail them all.
type countingWriter struct {
	*httptest.ResponseRecorder
	writes []string
	fail   bool
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	if w.fail {
		return 0, errors.New("client gone")
	}
	return w.ResponseRecorder.Write(p)
}

func idleCount(tr *h1Transport, addr string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.idle[originKey{"http", addr}])
}

func leanGet(t *testing.T, tr *h1Transport, url string) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", url, nil)
	r.RequestURI = ""
	res, err := tr.roundTrip(r, false, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A body that came whole with the head is written to the client in one
// write from the connection's buffer, and the connection goes back to the
// pool; when that write fails, the error is the client's and the
// connection, whose answer was read whole, is still pooled.
func TestWholeBodyWrittenFromTheBuffer(t *testing.T) {
	o := raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
		}
	})
	tr := testH1(t)
	w := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	if err := (&Proxy{WriteTimeout: time.Second}).stream(w, nil, leanGet(t, tr, o.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 || w.writes[0] != "hello world" {
		t.Fatalf("writes %q, want one of the whole body", w.writes)
	}
	if n := idleCount(tr, o.Addr); n != 1 {
		t.Fatalf("%d idle connections after a whole body, want 1", n)
	}

	w = &countingWriter{ResponseRecorder: httptest.NewRecorder(), fail: true}
	err := (&Proxy{}).stream(w, nil, leanGet(t, tr, o.URL+"/"))
	if err == nil || !strings.Contains(err.Error(), "client went away") {
		t.Fatalf("a failed client write gave %v, want the client's error", err)
	}
	if n := idleCount(tr, o.Addr); n != 1 || o.Conns.Load() != 1 {
		t.Fatalf("%d idle, %d dialled: the connection was not kept", n, o.Conns.Load())
	}
}

// A body that arrives after its head is read and written as it comes,
// whole and in order.
func TestBodyAfterHeadStillStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst"))
		time.Sleep(30 * time.Millisecond)
		c.Write([]byte("-last"))
		br.ReadByte() // until the client closes
	}()
	tr := testH1(t)
	w := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	if err := (&Proxy{}).stream(w, nil, leanGet(t, tr, "http://"+ln.Addr().String()+"/")); err != nil {
		t.Fatal(err)
	}
	if got := w.Body.String(); got != "first-last" {
		t.Fatalf("body %q, want first-last", got)
	}
	if len(w.writes) < 2 {
		t.Fatalf("writes %q: the body in two parts came as one", w.writes)
	}
}
