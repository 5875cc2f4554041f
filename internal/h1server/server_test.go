package h1server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"levee/internal/guard"
	"levee/internal/httpwire"
)

// harness runs a Server on a loopback listener, with a real net/http
// server as its fallback, as internal/app does.
type harness struct {
	t        testing.TB
	addr     string
	srv      *Server
	fallback *http.Server
	fellBack atomic.Int64
}

// chanListener feeds handed-off connections to the fallback server.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	addr  net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

func start(t testing.TB, h http.Handler, tune func(*Server)) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, addr: ln.Addr().String()}
	cl := &chanListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	hs.fallback = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", "fallback")
		h.ServeHTTP(w, r)
	})}
	go hs.fallback.Serve(cl)
	hs.srv = &Server{
		Handler: h,
		Fallback: func(_ context.Context, c net.Conn) {
			hs.fellBack.Add(1)
			select {
			case cl.conns <- c:
			case <-cl.done:
				c.Close()
			}
		},
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if tune != nil {
		tune(hs.srv)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !hs.srv.Serve(c) {
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(cl.done)
		hs.srv.Close()
		hs.fallback.Close()
	})
	return hs
}

func (hs *harness) dial() (net.Conn, *bufio.Reader) {
	hs.t.Helper()
	c, err := net.Dial("tcp", hs.addr)
	if err != nil {
		hs.t.Fatal(err)
	}
	hs.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// roundTrip writes raw bytes and reads one response for method.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, raw, method string) *http.Response {
	t.Helper()
	if raw != "" {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
	}
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return res
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", "5")
	io.WriteString(w, "hello")
}

func TestKeepAliveServesSequentialRequests(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Host+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("X-A")+" "+r.RemoteAddr)
		mu.Unlock()
		hello(w, r)
	}), nil)
	c, br := hs.dial()
	for i := range 3 {
		res := roundTrip(t, c, br, fmt.Sprintf("GET /p%d?q=%d HTTP/1.1\r\nHost: example.com\r\nX-A: v%d\r\n\r\n", i, i, i), "GET")
		if res.StatusCode != 200 || body(t, res) != "hello" || res.Header.Get("Date") == "" || res.Header.Get("X-Server") != "" {
			t.Fatalf("request %d: %d %v", i, res.StatusCode, res.Header)
		}
		if res.Close {
			t.Fatalf("request %d: connection closed, want keep-alive", i)
		}
	}
	if len(seen) != 3 || !strings.HasPrefix(seen[2], "GET example.com /p2?q=2 v2 127.0.0.1:") {
		t.Fatalf("handler saw %q", seen)
	}
	if hs.fellBack.Load() != 0 {
		t.Fatalf("%d connections fell back, want 0", hs.fellBack.Load())
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}), nil)
	c, br := hs.dial()
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"/a", "/b"} {
		if got := body(t, roundTrip(t, c, br, "", "GET")); got != want {
			t.Fatalf("body %q, want %q", got, want)
		}
	}
	res := roundTrip(t, c, br, "", "HEAD")
	if res.StatusCode != 200 {
		t.Fatalf("HEAD status %d", res.StatusCode)
	}
}

func TestFramingWithoutContentLength(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part2")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
				panic(fmt.Sprintf("write on 204: %v", err))
			}
		case "/over":
			w.Header().Set("Content-Length", "2")
			if _, err := io.WriteString(w, "abc"); !errors.Is(err, http.ErrContentLength) {
				panic(fmt.Sprintf("write over length: %v", err))
			}
		}
	}), nil)
	c, br := hs.dial()

	res := roundTrip(t, c, br, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if res.ContentLength != 0 || body(t, res) != "" {
		t.Fatalf("empty: length %d", res.ContentLength)
	}
	res = roundTrip(t, c, br, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("chunked: transfer-encoding %v", res.TransferEncoding)
	}
	if b := body(t, res); b != "part1,part2" || res.Trailer.Get("X-Sum") != "42" || res.Trailer.Get("X-Late") != "yes" {
		t.Fatalf("chunked: body %q trailer %v", b, res.Trailer)
	}
	if res.Header.Get("X-Sum") != "" {
		t.Fatal("a declared trailer was sent in the head")
	}
	res = roundTrip(t, c, br, "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if res.StatusCode != 204 || res.Header.Get("Content-Length") != "" || res.TransferEncoding != nil {
		t.Fatalf("204: %v %v", res.Header, res.TransferEncoding)
	}
	res = roundTrip(t, c, br, "GET /over HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if b := body(t, res); b != "ab" {
		t.Fatalf("over: body %q, want the declared 2 bytes", b)
	}
	// The connection still works after all of that.
	res = roundTrip(t, c, br, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if res.StatusCode != 200 {
		t.Fatal(res.Status)
	}
}

// A head held for the body's sendfile (MSG_MORE) is sent even when the
// file gives nothing: when the handler's copy returns, the socket has no
// unsent bytes (the kernel would otherwise hold them for a while, about
// 200 ms when seen, or until the connection closes).
func TestSendfileHeadSentWhenTheFileGivesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Pointer[net.TCPConn]
	unsent := make(chan int, 1)
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(path)
			if err != nil {
				panic(err)
			}
			defer f.Close()
			w.Header().Set("Content-Length", "10")
			io.Copy(w, &io.LimitedReader{R: f, N: 10})
			unsent <- unsentBytes(t, accepted.Load())
		}),
		Fallback:          func(_ context.Context, c net.Conn) { c.Close() },
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
	defer srv.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted.Store(c.(*net.TCPConn))
		srv.Serve(c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case n := <-unsent:
		if n != 0 {
			t.Fatalf("%d bytes of the head left unsent after the file gave nothing", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not run")
	}
}

// unsentBytes is what c's socket holds not yet sent (SIOCOUTQNSD).
func unsentBytes(t *testing.T, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Error(err)
		return -1
	}
	n, ierr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQNSD) }); err != nil || ierr != nil {
		t.Error(err, ierr)
	}
	return n
}

func TestShortBodyClosesConnection(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	}), nil)
	c, br := hs.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a body shorter than declared: %v, want unexpected EOF (connection closed)", err)
	}
}

func TestHTTP10(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", "3")
		}
		io.WriteString(w, "ten")
	}), nil)
	c, br := hs.dial()
	res := roundTrip(t, c, br, "GET /sized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET")
	if res.Close || res.Header.Get("Connection") != "keep-alive" || body(t, res) != "ten" {
		t.Fatalf("1.0 keep-alive with a length: close=%v %v", res.Close, res.Header)
	}
	// Without a length the body can only end with the connection.
	res = roundTrip(t, c, br, "GET /unsized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET")
	if !res.Close || res.TransferEncoding != nil || body(t, res) != "ten" {
		t.Fatalf("1.0 without a length: close=%v te=%v", res.Close, res.TransferEncoding)
	}

	c, br = hs.dial()
	res = roundTrip(t, c, br, "GET /sized HTTP/1.0\r\n\r\n", "GET")
	if !res.Close || body(t, res) != "ten" {
		t.Fatal("HTTP/1.0 without keep-alive must close")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after a 1.0 response: %v, want EOF", err)
	}
}

func TestConnectionClose(t *testing.T) {
	hs := start(t, http.HandlerFunc(hello), nil)
	c, br := hs.dial()
	res := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET")
	if !res.Close || body(t, res) != "hello" {
		t.Fatal("want Connection: close")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("%v, want EOF", err)
	}

	// The handler asks for it (a draining server does).
	hs2 := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		hello(w, r)
	}), nil)
	c, br = hs2.dial()
	res = roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if !res.Close || body(t, res) != "hello" {
		t.Fatal("handler's Connection: close ignored")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("%v, want EOF", err)
	}
}

func TestDeclinedRequestsGoToFallbackWithTheirBytes(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}), nil)
	big := strings.Repeat("a", ReadBufferSize)
	cases := []struct {
		name, raw, want string
	}{
		{"post with body", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", "POST /p body"},
		{"chunked", "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "PUT /c abc"},
		{"get with length", "GET /g HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "GET /g "},
		{"options", "OPTIONS /o HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS /o "},
		{"absolute form", "GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n", "GET /abs "},
		{"expect", "GET /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", "GET /e "},
		{"head over the buffer", "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", "GET /big "},
		{"bare LF", "GET /lf HTTP/1.1\nHost: x\n\n", "GET /lf "},
		{"obs-fold", "GET /fold HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "GET /fold "},
		{"escaped path", "GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a/b "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hs.fellBack.Load()
			c, br := hs.dial()
			res := roundTrip(t, c, br, tc.raw, "GET")
			if got := body(t, res); got != tc.want {
				t.Fatalf("body %q, want %q", got, tc.want)
			}
			fell := hs.fellBack.Load() - before
			if tc.name == "escaped path" {
				// Escapes are parsed here, not declined.
				if fell != 0 || res.Header.Get("X-Server") != "" {
					t.Fatal("an escaped path fell back")
				}
				return
			}
			if fell != 1 || res.Header.Get("X-Server") != "fallback" {
				t.Fatalf("fell back %d times, server %q", fell, res.Header.Get("X-Server"))
			}
			// The connection stays with the fallback, and works.
			res = roundTrip(t, c, br, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
			if got := body(t, res); got != "GET /next " || res.Header.Get("X-Server") != "fallback" {
				t.Fatalf("next request: %q from %q", got, res.Header.Get("X-Server"))
			}
		})
	}
}

func TestMalformedRequestsAnsweredByFallback(t *testing.T) {
	var reached atomic.Int64
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}), nil)
	for _, raw := range []string{
		"GET / HTTP/1.1\r\n\r\n",                           // no Host
		"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",     // two Hosts
		"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", // space in a name
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",   // NUL in a value
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",              // bad Host
		"GET / HTTP/9.9\r\nHost: x\r\n\r\n",                // version
	} {
		c, br := hs.dial()
		res := roundTrip(t, c, br, raw, "GET")
		if res.StatusCode < 400 || res.StatusCode > 505 {
			t.Errorf("%q: status %d, want net/http's 4xx/505", raw, res.StatusCode)
		}
	}
	if reached.Load() != 0 {
		t.Fatalf("%d malformed requests reached the handler", reached.Load())
	}
}

func TestHeaderValuesCannotSplitTheResponse(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Evil", "a\r\nSet-Cookie: stolen=1")
		w.Header().Set("Bad Name", "dropped")
		hello(w, r)
	}), nil)
	c, br := hs.dial()
	res := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if res.Header.Get("Set-Cookie") != "" || res.Header.Get("X-Evil") != "a  Set-Cookie: stolen=1" {
		t.Fatalf("header %v", res.Header)
	}
	if _, ok := res.Header["Bad Name"]; ok {
		t.Fatal("an invalid field name was sent")
	}
}

func TestInformationalThenFinal(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		hello(w, r)
	}), nil)
	c, br := hs.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	first, err := http.ReadResponse(br, nil)
	if err != nil || first.StatusCode != 103 || first.Header.Get("Link") == "" {
		t.Fatalf("103: %v %v", first, err)
	}
	final, err := http.ReadResponse(br, nil)
	if err != nil || final.StatusCode != 200 || body(t, final) != "hello" {
		t.Fatalf("final: %v %v", final, err)
	}
}

func TestSendfileBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "obj")
	want := strings.Repeat("0123456789abcdef", 10000)
	if err := os.WriteFile(path, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		w.Header().Set("Content-Length", fmt.Sprint(len(want)))
		n, err := io.Copy(w, &io.LimitedReader{R: f, N: int64(len(want))})
		if err != nil || n != int64(len(want)) {
			panic(fmt.Sprintf("copy: %d %v", n, err))
		}
	}), nil)
	c, br := hs.dial()
	for range 3 {
		res := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if got := body(t, res); got != want {
			t.Fatalf("body of %d bytes differs (want %d)", len(got), len(want))
		}
	}
}

func TestClientGoneCancelsSlowRequest(t *testing.T) {
	cancelled := make(chan error, 1)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A derived context, as the proxy makes for its origin request.
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		<-ctx.Done()
		cancelled <- ctx.Err()
	}), nil)
	c, _ := hs.dial()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	c.Close()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("request context: %v, want canceled when the client left", err)
	}
}

func TestSlowRequestWithPipelinedFollower(t *testing.T) {
	// The watch on a slow request must leave a pipelined request's bytes
	// for the next round.
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(4 * watchDelay)
		}
		io.WriteString(w, r.URL.Path)
	}), nil)
	c, br := hs.dial()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(2 * watchDelay)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"/slow", "/next"} {
		if got := body(t, roundTrip(t, c, br, "", "GET")); got != want {
			t.Fatalf("body %q, want %q", got, want)
		}
	}
}

func TestPanicCostsOnlyTheConnection(t *testing.T) {
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		}
		hello(w, r)
	}), nil)
	for _, p := range []string{"/panic", "/abort"} {
		c, br := hs.dial()
		io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if res, err := http.ReadResponse(br, nil); err == nil {
			if _, err := io.ReadAll(res.Body); err == nil {
				t.Fatalf("%s: a complete response, want a cut connection", p)
			}
		}
	}
	c, br := hs.dial()
	if res := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); body(t, res) != "hello" {
		t.Fatal("server did not survive the panics")
	}
}

func TestTimeouts(t *testing.T) {
	hs := start(t, http.HandlerFunc(hello), func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	// A head trickled slower than the header timeout is cut.
	c, br := hs.dial()
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	time.Sleep(400 * time.Millisecond)
	io.WriteString(c, "Host: x\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a trickled head was answered")
	}
	// An idle keep-alive connection is closed after the idle timeout.
	c, br = hs.dial()
	body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

func TestShutdownLetsActiveRequestsFinish(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			close(started)
			<-release
		}
		hello(w, r)
	}), nil)
	idle, ibr := hs.dial()
	body(t, roundTrip(t, idle, ibr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	busy, bbr := hs.dial()
	io.WriteString(busy, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- hs.srv.Shutdown(ctx)
	}()
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection at shutdown: %v, want EOF", err)
	}
	close(release)
	res, err := http.ReadResponse(bbr, nil)
	if err != nil || body(t, res) != "hello" || !res.Close {
		t.Fatalf("in-flight request at shutdown: %v %v", res, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if hs.srv.Serve(nil) {
		t.Fatal("a shut-down server took a connection")
	}
}

func TestRequestFields(t *testing.T) {
	got := make(chan *http.Request, 1)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(context.Background())
	}), nil)
	c, br := hs.dial()
	body(t, roundTrip(t, c, br, "GET /x?a=1&b HTTP/1.1\r\nhost: Example.COM:8080\r\nuser-agent: t\r\nPragma: no-cache\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n", "GET"))
	r := <-got
	if r.Host != "Example.COM:8080" || r.Header.Get("Host") != "" || r.RequestURI != "/x?a=1&b" ||
		r.URL.Path != "/x" || r.URL.RawQuery != "a=1&b" || r.Proto != "HTTP/1.1" || r.ProtoMinor != 1 ||
		r.Header.Get("User-Agent") != "t" || r.Header.Get("Cache-Control") != "no-cache" ||
		len(r.Header["Cookie"]) != 2 || r.ContentLength != 0 || r.Body != http.NoBody {
		t.Fatalf("request %+v", r)
	}
}

func TestResetRequestCoversEveryField(t *testing.T) {
	// resetRequest names these; a field net/http adds must be added there.
	known := map[string]bool{"Method": true, "URL": true, "Proto": true, "ProtoMajor": true,
		"ProtoMinor": true, "Header": true, "Body": true, "GetBody": true, "ContentLength": true,
		"TransferEncoding": true, "Close": true, "Host": true, "Form": true, "PostForm": true,
		"MultipartForm": true, "Trailer": true, "RemoteAddr": true, "RequestURI": true, "TLS": true,
		"Cancel": true, "Response": true, "Pattern": true}
	typ := reflect.TypeOf(http.Request{})
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() && !known[f.Name] {
			t.Errorf("http.Request.%s is not cleared by resetRequest", f.Name)
		}
	}
}

func TestRequestContextSemantics(t *testing.T) {
	type key struct{}
	type seen struct {
		ctx  context.Context
		req  *http.Request
		took bool
	}
	got := make(chan seen, 4)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(key{}) != "conn" {
			panic("connection context value lost")
		}
		took := r.URL.Path == "/done"
		if took {
			// A child context: attached without a goroutine, cancelled with
			// the request.
			child, cancel := context.WithCancel(r.Context())
			defer cancel()
			_ = child
			_ = r.Context().Done()
		}
		got <- seen{r.Context(), r, took}
		hello(w, r)
	}), func(s *Server) {
		s.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, key{}, "conn")
		}
	})
	c, br := hs.dial()
	var prev seen
	for i, path := range []string{"/a", "/b", "/done", "/c"} {
		body(t, roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
		s := <-got
		switch {
		case i == 1 && (s.req != prev.req || s.ctx != prev.ctx):
			t.Fatal("a request whose context nobody watched did not leave it to the next")
		case i == 3 && (s.ctx == prev.ctx || prev.ctx.Err() != context.Canceled):
			t.Fatalf("a watched context was reused or not cancelled at the end (err %v)", prev.ctx.Err())
		}
		if s.took && s.ctx.Err() != context.Canceled {
			t.Fatal("a watched request context is not cancelled after its handler returned")
		}
		prev = s
	}
}

// TestHandlersEndingAroundTheWatchDelay runs handlers that finish just
// before, at and after the moment the client watch starts, so a watch that
// starts late (its timer fired as the handler returned) meets the next
// request. Every request must be answered, in order, promptly.
func TestHandlersEndingAroundTheWatchDelay(t *testing.T) {
	// Late starts: the timer fires, and the watch begins a while after.
	late := func() { time.Sleep(time.Millisecond) }
	startHook.Store(&late)
	t.Cleanup(func() { startHook.Store(nil) })
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var us int
		fmt.Sscanf(r.URL.Query().Get("us"), "%d", &us)
		time.Sleep(time.Duration(us) * time.Microsecond)
		io.WriteString(w, r.URL.RawQuery)
	}), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", hs.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := range 150 {
				us := int(watchDelay/time.Microsecond) - 300 + (i*37+g*11)%600
				q := fmt.Sprintf("us=%d&i=%d", us, i)
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := io.WriteString(c, "GET /?"+q+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					errs <- err
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- fmt.Errorf("request %d (%d µs): %w", i, us, err)
					return
				}
				b, err := io.ReadAll(res.Body)
				if err != nil || string(b) != q {
					errs <- fmt.Errorf("request %d: body %q, %v", i, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFifoSurvivesDescriptorReuse keeps connections waiting in the fifo
// while hundreds of others open, register, close and free their descriptor
// numbers for reuse; the waiting ones must still be woken for their next
// request.
func TestFifoSurvivesDescriptorReuse(t *testing.T) {
	hs := start(t, http.HandlerFunc(hello), nil)
	type held struct {
		c  net.Conn
		br *bufio.Reader
	}
	var long []held
	for range 5 {
		c, br := hs.dial()
		body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
		long = append(long, held{c, br})
	}
	// The fifo starts with the first connection served, so it can only be
	// looked at now; the Once orders this read after its start.
	hs.srv.fifoOnce.Do(func() {})
	if hs.srv.fifo == nil {
		if runtime.GOOS == "linux" {
			t.Fatal("no epoll fifo on Linux: the ordered wake-up path is not under test")
		}
		t.Skip("no epoll on " + runtime.GOOS)
	}
	for i := range 300 {
		c, err := net.Dial("tcp", hs.addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for range 2 {
			if got := body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "hello" {
				t.Fatalf("short connection %d: %q", i, got)
			}
		}
		c.Close()
	}
	for i, h := range long {
		h.c.SetDeadline(time.Now().Add(2 * time.Second))
		if got := body(t, roundTrip(t, h.c, h.br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "hello" {
			t.Fatalf("long connection %d: %q", i, got)
		}
	}
	if hs.srv.fifo.wakes.Load() < 300 {
		t.Fatalf("%d fifo wake-ups, want at least one per second request (300)", hs.srv.fifo.wakes.Load())
	}
}

// A panicking AfterFunc callback of a request context runs behind the
// server's wall (Go): recovered and counted, the server carries on.
func TestAfterFuncPanicRunsBehindTheWall(t *testing.T) {
	wall := guard.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/after" {
			af := r.Context().(interface{ AfterFunc(func()) func() bool })
			af.AfterFunc(func() { panic("after func broke") })
		}
		hello(w, r)
	}), func(s *Server) { s.Go = wall.Go })
	c, br := hs.dial()
	body(t, roundTrip(t, c, br, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	for i := 0; i < 500 && wall.Count("goroutine:http1-afterfunc") == 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if n := wall.Count("goroutine:http1-afterfunc"); n != 1 {
		t.Fatalf("panics counted %v, want 1", n)
	}
	body(t, roundTrip(t, c, br, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
}

// fifoOf returns the server's fifo once it runs, failing on Linux without
// one (the ordered wake-up path would not be under test).
func fifoOf(t *testing.T, hs *harness) *fifo {
	t.Helper()
	// The fifo starts with the first connection served; the Once orders
	// this read after its start.
	hs.srv.fifoOnce.Do(func() {})
	if hs.srv.fifo == nil {
		if runtime.GOOS == "linux" {
			t.Fatal("no epoll fifo on Linux: the ordered wake-up path is not under test")
		}
		t.Skip("no epoll on " + runtime.GOOS)
	}
	return hs.srv.fifo
}

// TestFifoRegistersOncePerConnection: a kept-alive connection's socket is
// registered with the fifo's epoll once, not re-armed for each request
// (issue 18: that was an epoll_ctl call per request).
func TestFifoRegistersOncePerConnection(t *testing.T) {
	hs := start(t, http.HandlerFunc(hello), nil)
	c, br := hs.dial()
	body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	f := fifoOf(t, hs)
	for i := range 100 {
		if got := body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "hello" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if n := f.ctls.Load(); n != 1 {
		t.Errorf("%d epoll_ctl calls for 100 kept-alive requests, want 1 (the registration)", n)
	}
	// Each wait is either woken by the fifo or finds the connection marked
	// ready by an event that came first (the request arrived before the
	// wait began); which one is a matter of timing, but none may fall
	// back to reading outside the fifo.
	if n := f.wakes.Load() + f.readies.Load(); n < 100 {
		t.Errorf("%d waits through the fifo for 100 requests, want 100", n)
	}
}

// TestFifoSpuriousReadyKeepsIdleTimeout: an event that came while the
// connection was busy marks it ready, and the bytes it announced may have
// been read with the request being served. The next wait then reads the
// socket directly, and must do so under the idle timeout: a ready mark
// must not cut an idle connection at the (shorter) header timeout.
func TestFifoSpuriousReadyKeepsIdleTimeout(t *testing.T) {
	const headerTimeout = 150 * time.Millisecond
	hs := start(t, http.HandlerFunc(hello), func(s *Server) {
		s.ReadHeaderTimeout = headerTimeout
		s.IdleTimeout = 5 * time.Second
	})
	c, br := hs.dial()
	body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	f := fifoOf(t, hs)
	hs.srv.mu.Lock()
	var cns []*conn
	for cn := range hs.srv.conns {
		cns = append(cns, cn)
	}
	hs.srv.mu.Unlock()
	if len(cns) != 1 {
		t.Fatalf("%d connections tracked, want 1", len(cns))
	}
	// The mark, as the fifo leaves it for a busy connection; the request
	// after it is woken as usual, and the wait after that finds the mark
	// with nothing to read.
	f.mu.Lock()
	cns[0].ready = true
	f.mu.Unlock()
	body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	time.Sleep(2 * headerTimeout)
	if got := body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "hello" {
		t.Fatalf("request after idling past the header timeout: %q", got)
	}
}

// TestStoppedAfterFuncLeavesContextToNextRequest: a function attached to a
// request's context with AfterFunc and stopped before the handler returns
// (the proxy's cancel hook on an origin connection) leaves nothing to run,
// so the context and request go to the connection's next request (issue
// 18: every pass-through request allocated both anew). One still attached
// runs when the handler returns, and the context is not reused.
func TestStoppedAfterFuncLeavesContextToNextRequest(t *testing.T) {
	type seen struct {
		ctx context.Context
		req *http.Request
	}
	got := make(chan seen, 4)
	ran := make(chan string, 4)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		af := r.Context().(interface{ AfterFunc(func()) func() bool })
		path := r.URL.Path
		stop := af.AfterFunc(func() { ran <- path })
		if path == "/stop" && !stop() {
			panic("AfterFunc could not be stopped during its request")
		}
		got <- seen{r.Context(), r}
		hello(w, r)
	}), nil)
	c, br := hs.dial()
	var prev seen
	for i, path := range []string{"/stop", "/stop", "/keep", "/stop"} {
		body(t, roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
		s := <-got
		switch {
		case i == 1 && (s.req != prev.req || s.ctx != prev.ctx):
			t.Fatal("a context whose AfterFunc was stopped was not left to the next request")
		case i == 3 && (s.ctx == prev.ctx || prev.ctx.Err() != context.Canceled):
			t.Fatalf("a context with an AfterFunc still attached was reused or not cancelled (err %v)", prev.ctx.Err())
		}
		prev = s
	}
	select {
	case p := <-ran:
		if p != "/keep" {
			t.Fatalf("the AfterFunc of %s ran, want only /keep's", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the AfterFunc still attached did not run when its handler returned")
	}
	select {
	case p := <-ran:
		t.Fatalf("a second AfterFunc ran (%s)", p)
	default:
	}
}

// TestSlowRequestWatchedByEventsNotARead: a slow request on a connection
// in the fifo is watched through the fifo's events (issue 18): no watch
// goroutine and no parked read while the client stays, and the client
// hanging up still cancels the request.
func TestSlowRequestWatchedByEventsNotARead(t *testing.T) {
	var watchReads atomic.Int64
	cancelled := make(chan error, 1)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(4 * watchDelay)
		case "/hang":
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			<-ctx.Done()
			cancelled <- ctx.Err()
			return
		}
		io.WriteString(w, r.URL.Path)
	}), func(s *Server) {
		s.Go = func(name string, fn func()) {
			if name == "http1-watch" {
				watchReads.Add(1)
			}
			go fn()
		}
	})
	c, br := hs.dial()
	// The first request is read before the connection joins the fifo.
	body(t, roundTrip(t, c, br, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	f := fifoOf(t, hs)
	for i := range 3 {
		if got := body(t, roundTrip(t, c, br, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "/slow" {
			t.Fatalf("slow request %d: %q", i, got)
		}
	}
	if n := watchReads.Load(); n != 0 {
		t.Errorf("%d watch reads started for 3 slow requests on a fifo connection, want 0", n)
	}
	if n := f.eventWatches.Load(); n != 3 {
		t.Errorf("%d slow requests watched by events, want 3", n)
	}
	io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(4 * watchDelay)
	c.Close()
	wantCancelled(t, cancelled, "the client hung up and the request's context was not cancelled")
}

// deadlineCountingConn counts the deadlines set on a TCP connection; it
// keeps the socket reachable, so the connection still joins the fifo.
type deadlineCountingConn struct {
	*net.TCPConn
	sets *atomic.Int64
}

func (c deadlineCountingConn) SetReadDeadline(t time.Time) error {
	c.sets.Add(1)
	return c.TCPConn.SetReadDeadline(t)
}

func (c deadlineCountingConn) SetWriteDeadline(t time.Time) error {
	c.sets.Add(1)
	return c.TCPConn.SetWriteDeadline(t)
}

// TestDeadlinesNotSetPerRequest: kept-alive requests served within a
// sixteenth of the timeouts share their deadlines (issue 18: three timer
// updates per pass-through request, the proxy's extension of the write
// deadline included, showed in the profile).
func TestDeadlinesNotSetPerRequest(t *testing.T) {
	var sets atomic.Int64
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// As the proxy does when the body starts to move.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(w, "hello")
		}),
		Fallback:          func(_ context.Context, c net.Conn) { c.Close() },
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); srv.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !srv.Serve(deadlineCountingConn{c.(*net.TCPConn), &sets}) {
				c.Close()
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	const n = 100
	for i := range n {
		if got := body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "hello" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	// Each sixteenth of the timeouts (over 300 ms) crossed costs a new
	// read and write deadline; before, every request set three.
	t.Logf("%d deadlines set for %d requests", sets.Load(), n)
	if got := sets.Load(); got > 30 {
		t.Errorf("%d deadlines set for %d kept-alive requests, want at most 30", got, n)
	}
}

// TestIdleTimerThatFiredWhileBusyDoesNotCut: the fifo's idle timer is not
// stopped after each wait (issue 18); when it fired during a request that
// ran longer than the idle timeout, the next wait must not take that tick
// for an idle timeout, and a connection left idle is still closed.
func TestIdleTimerThatFiredWhileBusyDoesNotCut(t *testing.T) {
	const idle = 150 * time.Millisecond
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * idle)
		}
		io.WriteString(w, r.URL.Path)
	}), func(s *Server) { s.IdleTimeout = idle })
	c, br := hs.dial()
	for _, p := range []string{"/a", "/b", "/slow", "/c"} {
		if got := body(t, roundTrip(t, c, br, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != p {
			t.Fatalf("%s: %q", p, got)
		}
	}
	time.Sleep(idle / 3)
	if got := body(t, roundTrip(t, c, br, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n", "GET")); got != "/d" {
		t.Fatalf("/d after a short pause: %q", got)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
}

// TestEarlyHangUpOnFifoConnectionCancels: a client that hangs up before
// its request ran for the watch delay, on a connection in the fifo, still
// has the request cancelled (the read starts once the delay is over).
func TestEarlyHangUpOnFifoConnectionCancels(t *testing.T) {
	// With the request, and a moment after it (while the handler runs).
	for _, pause := range []time.Duration{0, time.Millisecond} {
		t.Run(pause.String(), func(t *testing.T) { earlyHangUp(t, pause) })
	}
}

func earlyHangUp(t *testing.T, pause time.Duration) {
	cancelled := make(chan error, 1)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hang" {
			io.WriteString(w, r.URL.Path)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		<-ctx.Done()
		cancelled <- ctx.Err()
	}), nil)
	c, br := hs.dial()
	body(t, roundTrip(t, c, br, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	body(t, roundTrip(t, c, br, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n", "GET"))
	io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(pause)
	c.Close()
	wantCancelled(t, cancelled, "the client hung up early and the request's context was not cancelled")
}

// wantCancelled waits up to 3 s for a request context's error on
// cancelled, and wants context.Canceled.
func wantCancelled(t *testing.T, cancelled <-chan error, what string) {
	t.Helper()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("request context: %v, want canceled when the client left", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal(what)
	}
}

// A body part larger than the write buffer is written straight from the
// handler's slice, after the head (and any smaller part before it): the
// bytes arrive whole and in order, kept alive, with and without a
// declared length.
func TestLargeWritesArriveWhole(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20000) // 320,000 bytes
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/one":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.WriteString(w, big)
		case "/small-then-large":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)+5))
			io.WriteString(w, "start")
			io.WriteString(w, big)
		case "/chunked":
			io.WriteString(w, big)
			io.WriteString(w, big)
		}
	}), nil)
	c, br := hs.dial()
	for _, tc := range []struct{ path, want string }{
		{"/one", big}, {"/small-then-large", "start" + big}, {"/chunked", big + big}, {"/one", big},
	} {
		res := roundTrip(t, c, br, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if got := body(t, res); got != tc.want {
			t.Fatalf("%s: body of %d bytes differs (want %d)", tc.path, len(got), len(tc.want))
		}
		if res.Close {
			t.Fatalf("%s: connection closed, want keep-alive", tc.path)
		}
	}
}

// Each request's arrival (httpwire.Arrival) is when its bytes were found,
// read anew for every request of a kept-alive connection: after the
// client sent it, and before the handler ran.
func TestArrivalIsEachRequestsOwn(t *testing.T) {
	type seen struct{ arrived, handled time.Time }
	got := make(chan seen, 3)
	hs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := w.(httpwire.Arrival)
		if !ok {
			t.Error("the response does not tell its arrival")
			return
		}
		got <- seen{a.Arrived(), time.Now()}
		hello(w, r)
	}), nil)
	c, br := hs.dial()
	var prev time.Time
	for i := range 3 {
		sent := time.Now()
		body(t, roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET"))
		s := <-got
		if s.arrived.Before(sent) || s.arrived.After(s.handled) || !s.arrived.After(prev) {
			t.Fatalf("request %d: sent %v, arrived %v, handled %v, previous arrival %v", i, sent, s.arrived, s.handled, prev)
		}
		prev = s.arrived
		time.Sleep(5 * time.Millisecond)
	}
}
