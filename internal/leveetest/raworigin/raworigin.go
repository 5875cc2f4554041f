// Package raworigin is a test origin written on raw TCP, for the origins
// real deployments meet and Go's net/http server is too polite to be. It
// imports nothing of levee's, so any package's own tests can use it
// (leveetest itself imports the whole node).
package raworigin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Origin is an HTTP/1.1 origin written on raw TCP that behaves like
// Node.js or Apache rather than like Go's polite server: it closes a
// keep-alive connection that stayed idle for IdleClose, may advertise
// Keep-Alive: timeout=N, can drop requests that arrive on a reused
// connection without answering (the race where the origin closes just as
// a request is sent), and can answer with any bytes at all (Answer).
type Origin struct {
	Addr string // host:port
	URL  string // http://host:port

	// IdleClose closes a connection idle this long (0: never).
	IdleClose time.Duration
	// KeepAlive is sent as the Keep-Alive response header when set.
	KeepAlive string
	// DropReused is how many of the next requests that arrive on an
	// already used connection are read and then dropped unanswered.
	DropReused atomic.Int64
	// Answer, when set, gives the raw bytes written for the n-th request
	// (status line, headers, any interim responses and the body), instead
	// of a 200 that names the request.
	Answer func(req *http.Request, n int64) string
	// CloseAfterAnswer closes the connection after one answer.
	CloseAfterAnswer bool
	// warmTo makes requests to /warm wait (at most 2 s) until this many
	// of them are in flight, so that many connections are opened.
	warmTo atomic.Int64

	Conns    atomic.Int64 // connections accepted
	Requests atomic.Int64 // requests answered

	ln      net.Listener
	mu      sync.Mutex
	idle    map[net.Conn]bool // open connections: true while waiting for a request
	seen    []string          // request lines, the first 1000
	warming atomic.Int64
	warmed  chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	closed  bool // the test ended: a connection accepted now is closed at once
}

// Start listens on loopback and serves until the test ends; configure,
// when not nil, sets the origin's behaviour before the first connection.
// When the test ends every connection is closed and every goroutine of
// the origin has returned.
func Start(t testing.TB, configure func(*Origin)) *Origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &Origin{ln: ln, Addr: ln.Addr().String(), idle: map[net.Conn]bool{}, warmed: make(chan struct{})}
	o.URL = "http://" + o.Addr
	if configure != nil {
		configure(o)
	}
	o.wg.Add(1)
	go o.accept()
	t.Cleanup(func() {
		ln.Close()
		o.mu.Lock()
		o.closed = true
		for c := range o.idle {
			c.Close()
		}
		o.mu.Unlock()
		o.wg.Wait()
	})
	return o
}

func (o *Origin) accept() {
	defer o.wg.Done()
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.Conns.Add(1)
		if !o.track(c) {
			c.Close()
			return
		}
		o.wg.Add(1)
		go o.serve(c)
	}
}

// track registers a new connection so that the test's end closes it even
// before it has read a byte; false once the test has ended.
func (o *Origin) track(c net.Conn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.idle[c] = true
	return true
}

func (o *Origin) setIdle(c net.Conn, idle bool) {
	o.mu.Lock()
	o.idle[c] = idle
	o.mu.Unlock()
}

func (o *Origin) serve(c net.Conn) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		delete(o.idle, c)
		o.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	for used := false; ; used = true {
		o.setIdle(c, true)
		if o.IdleClose > 0 {
			c.SetReadDeadline(time.Now().Add(o.IdleClose))
		}
		if _, err := br.Peek(1); err != nil {
			return
		}
		o.setIdle(c, false)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		o.record(req.Method + " " + req.RequestURI)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		if used && o.DropReused.Add(-1) >= 0 {
			return
		}
		if req.URL.Path == "/warm" {
			o.warm()
		}
		if !o.answer(c, req) || o.CloseAfterAnswer {
			return
		}
	}
}

func (o *Origin) warm() {
	if o.warming.Add(1) >= o.warmTo.Load() {
		o.once.Do(func() { close(o.warmed) })
	}
	select {
	case <-o.warmed:
	case <-time.After(2 * time.Second):
	}
}

func (o *Origin) answer(c net.Conn, req *http.Request) bool {
	n := o.Requests.Add(1)
	if o.Answer != nil {
		_, err := io.WriteString(c, o.Answer(req, n))
		return err == nil && !req.Close
	}
	body := fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, n)
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: max-age=0, stale-if-error=600\r\n", len(body))
	b.WriteString("Last-Modified: Mon, 02 Jan 2006 15:04:05 GMT\r\n")
	if o.KeepAlive != "" {
		b.WriteString("Keep-Alive: " + o.KeepAlive + "\r\n")
	}
	b.WriteString("\r\n")
	if req.Method != "HEAD" {
		b.WriteString(body)
	}
	_, err := io.WriteString(c, b.String())
	return err == nil && !req.Close
}

func (o *Origin) record(line string) {
	o.mu.Lock()
	if len(o.seen) < 1000 {
		o.seen = append(o.seen, line)
	}
	o.mu.Unlock()
}

// Seen returns the request lines received so far.
func (o *Origin) Seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen...)
}

// CloseIdle closes every connection waiting for its next request, as an
// origin does when its keep-alive timeout passes, and returns how many.
func (o *Origin) CloseIdle() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for c, idle := range o.idle {
		if idle {
			c.Close()
			n++
		}
	}
	return n
}

// WaitIdle waits (at most 2 s) until n connections wait for a request.
func (o *Origin) WaitIdle(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		o.mu.Lock()
		idle := 0
		for _, i := range o.idle {
			if i {
				idle++
			}
		}
		o.mu.Unlock()
		if idle >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections at the origin, want %d", idle, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Warm opens n connections to o through tr at once and leaves them idle.
func (o *Origin) Warm(t testing.TB, tr http.RoundTripper, n int) {
	t.Helper()
	o.warming.Store(0)
	o.warmTo.Store(int64(n))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", o.URL+"/warm", nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("warming: %v", err)
	}
	if got := o.Conns.Load(); got < int64(n) {
		t.Fatalf("warming opened %d connections, want %d", got, n)
	}
	o.WaitIdle(t, n)
}
