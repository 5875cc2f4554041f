package listener_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/config"
	"levee/internal/config/schema"
	"levee/internal/guard"
	"levee/internal/leveetest"
	"levee/internal/listener"
	"levee/internal/pipeline"
)

// seen is what the handler saw of one request.
type seen struct {
	proto, method string
	tls           bool
	alpn          string
	hello         string // the Hello record's fingerprint
	std           bool   // served by net/http (which puts its server in the context)
	body          string
}

// tlsSet runs a listener Set with one listener on a loopback port, whose
// handler records every request and answers "ok", and whose Hello hook
// fingerprints every ClientHello as "fp-<SNI>".
type tlsSet struct {
	t    *testing.T
	set  *listener.Set
	cert *leveetest.Cert
	mu   sync.Mutex
	seen []seen
	logs *leveetest.SyncBuffer
}

func startTLSSet(t *testing.T, readHeader time.Duration) *tlsSet {
	ts := &tlsSet{t: t, cert: leveetest.SelfSigned(t, "a.example"), logs: &leveetest.SyncBuffer{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{proto: r.Proto, method: r.Method, tls: r.TLS != nil, body: string(b),
			std: r.Context().Value(http.ServerContextKey) != nil}
		if r.TLS != nil {
			s.alpn = r.TLS.NegotiatedProtocol
		}
		if rec := pipeline.HelloFrom(r.Context()); rec != nil {
			s.hello = rec.Fingerprint
		}
		ts.mu.Lock()
		ts.seen = append(ts.seen, s)
		ts.mu.Unlock()
		io.WriteString(w, "ok")
	})
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	stopped := make(chan struct{})
	ts.set = listener.NewSet(log, guard.New(log, nil), h, listener.Hooks{
		Hello: func(hello *tls.ClientHelloInfo) string { return "fp-" + hello.ServerName },
	}, stopped)
	ts.apply(true, readHeader)
	t.Cleanup(func() {
		close(stopped)
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		ts.set.Shutdown(ctx)
	})
	return ts
}

// apply stages and commits the listener, with TLS on or off.
func (ts *tlsSet) apply(tlsOn bool, readHeader time.Duration) {
	ts.t.Helper()
	l := config.Listener{Listen: "127.0.0.1:0", HTTP1: "levee", HTTP2: config.HTTP2{MaxConcurrentStreams: 100, MaxReadFrameSize: 16 << 10}}
	sp := listener.Spec{
		Timeouts: config.ClientTimeouts{ReadHeader: schema.Duration(readHeader), Idle: schema.Duration(30 * time.Second), Write: schema.Duration(10 * time.Second)},
		Limits:   config.Limits{MaxHeaderBytes: 64 << 10},
	}
	if tlsOn {
		l.TLS = &config.TLS{Certificates: []config.Certificate{{Cert: ts.cert.CertFile, Key: ts.cert.KeyFile}}, MinVersion: "1.2"}
		cs, err := listener.LoadCerts(l.TLS)
		if err != nil {
			ts.t.Fatal(err)
		}
		sp.Certs = cs
	}
	sp.Listener = l
	c, err := ts.set.Stage([]listener.Spec{sp}, 2*time.Second)
	if err != nil {
		ts.t.Fatal(err)
	}
	c.Apply()
}

func (ts *tlsSet) addr() string {
	for _, a := range ts.set.Addrs() {
		return a.String()
	}
	ts.t.Fatal("no listener")
	return ""
}

func (ts *tlsSet) last() seen {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.seen) == 0 {
		ts.t.Fatal("no request reached the handler")
	}
	return ts.seen[len(ts.seen)-1]
}

func (ts *tlsSet) dial(protos ...string) *tls.Conn {
	ts.t.Helper()
	c, err := tls.Dial("tcp", ts.addr(), &tls.Config{RootCAs: ts.cert.Pool, ServerName: "a.example", NextProtos: protos})
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes a raw request on c and reads its response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) (*http.Response, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(req)[0]})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// HTTPS GET and HEAD are served by levee's own HTTP/1 server, with the
// request's TLS state and the handshake's Hello record, on one kept-alive
// connection; a POST on the same connection moves it to net/http, which
// still sees TLS and the same Hello record.
func TestHTTPSThroughH1Server(t *testing.T) {
	ts := startTLSSet(t, 5*time.Second)
	for _, protos := range [][]string{{"http/1.1"}, nil} {
		c := ts.dial(protos...)
		br := bufio.NewReader(c)
		for _, m := range []string{"GET", "HEAD"} {
			res, body := roundTrip(t, c, br, m+" /a HTTP/1.1\r\nHost: a.example\r\n\r\n")
			s := ts.last()
			if res.StatusCode != 200 || (m == "GET" && body != "ok") || s.method != m {
				t.Fatalf("ALPN %v %s: %d %q (handler saw %s)", protos, m, res.StatusCode, body, s.method)
			}
			if s.std || !s.tls || s.hello != "fp-a.example" || s.proto != "HTTP/1.1" {
				t.Fatalf("ALPN %v %s: handler saw %+v, want levee's server (not net/http) with TLS and the Hello record", protos, m, s)
			}
		}
		res, body := roundTrip(t, c, br, "POST /form HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello")
		s := ts.last()
		if res.StatusCode != 200 || body != "ok" || s.body != "hello" {
			t.Fatalf("POST: %d %q, handler saw body %q", res.StatusCode, body, s.body)
		}
		if !s.std || !s.tls || s.hello != "fp-a.example" {
			t.Fatalf("POST (ALPN %v): handler saw %+v, want net/http with TLS and the Hello record kept", protos, s)
		}
		// And the connection still serves, now from net/http.
		if res, _ := roundTrip(t, c, br, "GET /b HTTP/1.1\r\nHost: a.example\r\n\r\n"); res.StatusCode != 200 || !ts.last().tls {
			t.Fatalf("GET after POST: %d, handler saw %+v", res.StatusCode, ts.last())
		}
	}
}

// HTTP/1.0 over TLS: served by levee's server, closed after the response.
func TestHTTP10OverTLS(t *testing.T) {
	ts := startTLSSet(t, 5*time.Second)
	c := ts.dial("http/1.1")
	br := bufio.NewReader(c)
	res, body := roundTrip(t, c, br, "GET /a HTTP/1.0\r\nHost: a.example\r\n\r\n")
	s := ts.last()
	if res.StatusCode != 200 || body != "ok" || s.proto != "HTTP/1.0" || s.std || !s.tls {
		t.Fatalf("%d %q, handler saw %+v", res.StatusCode, body, s)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after an HTTP/1.0 response the connection should close: %v", err)
	}
}

// A client offering h2 gets HTTP/2, served by net/http (levee's server hands
// the handshaken connection over), with TLS and the Hello record.
func TestH2StillNegotiatedOverTLS(t *testing.T) {
	ts := startTLSSet(t, 5*time.Second)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.cert.Pool, ServerName: "a.example"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for i := range 2 {
		res, err := cl.Get("https://" + ts.addr() + "/a")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		s := ts.last()
		if res.ProtoMajor != 2 || string(b) != "ok" || s.proto != "HTTP/2.0" || !s.tls || s.alpn != "h2" || s.hello != "fp-a.example" {
			t.Fatalf("request %d: %s %q, handler saw %+v", i, res.Proto, b, s)
		}
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// serveGoroutines counts goroutines serving a connection in levee's
// HTTP/1 server (its handshake included).
func serveGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "h1server.(*conn).serve")
}

// waitNoServeGoroutines fails t unless every connection goroutine of
// levee's HTTP/1 server ends within 5 s.
func waitNoServeGoroutines(t *testing.T) {
	t.Helper()
	for range 500 {
		if serveGoroutines() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d connection goroutines left", serveGoroutines())
}

// A client that starts a handshake and stalls is cut at the header read
// deadline (timeouts.read_header), and its goroutine ends.
func TestSlowHandshakeCut(t *testing.T) {
	ts := startTLSSet(t, 300*time.Millisecond)
	for _, partial := range []string{"", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} {
		c, err := net.Dial("tcp", ts.addr())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, partial)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			t.Fatalf("stalled handshake (%d bytes sent) not cut by the server: %d bytes read, %v", len(partial), n, err)
		}
		c.Close()
		waitNoServeGoroutines(t)
	}
	if !strings.Contains(ts.logs.String(), "TLS handshake") {
		t.Fatalf("handshake failures not logged at debug level:\n%s", ts.logs)
	}
}

// Bytes that are not a ClientHello: a cleartext HTTP request gets net/http's
// plain answer (400, "Client sent an HTTP request to an HTTPS server."), other
// garbage a closed connection; no goroutine is left either way.
func TestGarbageInsteadOfClientHello(t *testing.T) {
	ts := startTLSSet(t, 5*time.Second)
	for _, tc := range []struct{ send, want string }{
		{"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", "400 Bad Request"},
		{"\x00\x01\x02\x03\x04\x05\x06\x07garbage\r\n\r\n", ""},
		{strings.Repeat("\xff", 4096), ""},
	} {
		c, err := net.Dial("tcp", ts.addr())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tc.send)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%q: connection not closed by the server", tc.send[:8])
		}
		if tc.want != "" && !strings.Contains(string(got), tc.want) {
			t.Fatalf("%q: got %q, want %q", tc.send[:8], got, tc.want)
		}
		if tc.want == "" && strings.Contains(string(got), "HTTP/") {
			t.Fatalf("%q: got an HTTP answer %q", tc.send[:8], got)
		}
	}
	waitNoServeGoroutines(t)
	c := ts.dial("http/1.1")
	if res, body := roundTrip(t, c, bufio.NewReader(c), "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"); body != "ok" {
		t.Fatalf("a good client after the garbage: %d %q", res.StatusCode, body)
	}
}

// A reload from TLS to cleartext and back keeps the socket: a connection of
// the old kind still gets its next answer (with "Connection: close", then
// the close), and new connections speak the new kind.
func TestReloadTLSToCleartextAndBack(t *testing.T) {
	ts := startTLSSet(t, 5*time.Second)
	get := "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"
	old := ts.dial("http/1.1")
	oldR := bufio.NewReader(old)
	if _, body := roundTrip(t, old, oldR, get); body != "ok" || !ts.last().tls {
		t.Fatalf("before the reload: %q %+v", body, ts.last())
	}
	lastOf := func(c net.Conn, br *bufio.Reader, wantTLS bool, what string) {
		t.Helper()
		res, body := roundTrip(t, c, br, get)
		if body != "ok" || !res.Close || ts.last().tls != wantTLS {
			t.Fatalf("%s: %q close %v, handler saw %+v", what, body, res.Close, ts.last())
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("%s: not closed after the draining answer: %v", what, err)
		}
	}

	ts.apply(false, 5*time.Second)
	plain, err := net.Dial("tcp", ts.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plainR := bufio.NewReader(plain)
	if _, body := roundTrip(t, plain, plainR, get); body != "ok" || ts.last().tls || ts.last().std {
		t.Fatalf("cleartext after the reload: %q %+v", body, ts.last())
	}
	lastOf(old, oldR, true, "TLS connection kept over the reload to cleartext")

	ts.apply(true, 5*time.Second)
	c := ts.dial("http/1.1")
	if _, body := roundTrip(t, c, bufio.NewReader(c), get); body != "ok" || !ts.last().tls || ts.last().std {
		t.Fatalf("TLS after the second reload: %q %+v", body, ts.last())
	}
	lastOf(plain, plainR, false, "cleartext connection kept over the reload to TLS")
}

// Through a node, HTTPS HTTP/1.1 requests are HTTPS to the origin whether
// levee's server answers them (GET, HEAD) or net/http (a POST):
// X-Forwarded-Proto and Forwarded say https.
func TestHTTPSForwardedProto(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Saw-Proto", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Saw-Forwarded", r.Header.Get("Forwarded"))
		io.WriteString(w, "page")
	}))
	n := leveetest.Start(t, strings.Replace(tlsConfig(cert, o.URL, ""), "        cache: {}\n", "", 1))
	c, err := tls.Dial("tcp", n.Addr(""), &tls.Config{RootCAs: cert.Pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, req := range []string{
		"GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"HEAD /a HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\n\r\nabc",
		"GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n", // now on net/http
	} {
		res, _ := roundTrip(t, c, br, req)
		if res.StatusCode != 200 || res.Header.Get("X-Saw-Proto") != "https" || !strings.Contains(res.Header.Get("X-Saw-Forwarded"), "proto=https") {
			t.Fatalf("%s: %d, origin saw X-Forwarded-Proto %q, Forwarded %q", strings.Fields(req)[0], res.StatusCode, res.Header.Get("X-Saw-Proto"), res.Header.Get("X-Saw-Forwarded"))
		}
	}
}
