package h2server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/pipeline"
)

// start serves h with levee's HTTP/2 server over TLS on loopback and
// returns a client that speaks HTTP/2 to it.
func start(t testing.TB, h http.Handler, tweak ...func(*Server)) (*httptest.Server, *http.Client, *Server) {
	t.Helper()
	s := &Server{}
	for _, f := range tweak {
		f(s)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context { return pipeline.WithHello(ctx) }
	s.Attach(ts.Config)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.Timeout = 10 * time.Second
	return ts, c, s
}

func get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestServesRequestsWithWhatHandlersExpect(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ts, c, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s %s tls=%v remote=%v host=%s q=%s cl=%d", r.Method, r.URL.Path, r.Proto, r.TLS != nil, r.RemoteAddr != "", r.Host, r.URL.RawQuery, r.ContentLength))
		h := pipeline.HelloFrom(r.Context())
		if h == nil || h.H2 == "" {
			seen = append(seen, "no fingerprint")
		}
		mu.Unlock()
		w.Header().Set("X-Test", "yes")
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Get(ts.URL + fmt.Sprintf("/p%d?x=1", i))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.ProtoMajor != 2 || string(b) != fmt.Sprintf("hello /p%d", i) || res.Header.Get("X-Test") != "yes" || res.ContentLength != int64(len(b)) {
				errs <- fmt.Errorf("%s %q %v cl=%d", res.Proto, b, res.Header, res.ContentLength)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if s == "no fingerprint" || !strings.Contains(s, "HTTP/2.0 tls=true remote=true host=127.0.0.1:") || !strings.Contains(s, "q=x=1 cl=0") {
			t.Fatalf("handler saw %q", s)
		}
	}
}

// A request body larger than both receive windows arrives whole, and a
// response larger than the client's windows leaves whole.
func TestBodiesBeyondTheWindows(t *testing.T) {
	ts, c, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(bytes.Repeat(b, 2))
	}))
	in := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	res, err := c.Post(ts.URL+"/echo", "application/octet-stream", bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !bytes.Equal(out, append(in, in...)) {
		t.Fatalf("status %d, %d bytes back of %d, err %v", res.StatusCode, len(out), 2*len(in), err)
	}
}

// A client's reset cancels the handler's context, and the next request on
// the connection is served.
func TestResetCancelsTheHandler(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	ts, c, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- struct{}{}
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/wait", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	res.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled by the client's reset")
	}
	if _, body := get(t, c, ts.URL+"/x"); body != "ok" {
		t.Fatalf("next request got %q", body)
	}
}

// A panicking handler costs its stream only; ErrAbortHandler is not
// counted as a panic.
func TestPanicResetsOnlyItsStream(t *testing.T) {
	ts, c, s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "ok")
	}))
	for _, p := range []string{"/panic", "/abort"} {
		res, err := c.Get(ts.URL + p)
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		if err == nil {
			t.Fatalf("%s: a panicking handler's response looked whole", p)
		}
	}
	if _, body := get(t, c, ts.URL+"/x"); body != "ok" {
		t.Fatalf("next request got %q", body)
	}
	if n := s.Stats().Panics.Load(); n != 1 {
		t.Fatalf("panics counted %d, want 1", n)
	}
}

// Trailers, 103 Early Hints and Flush reach the client.
func TestTrailersEarlyHintsAndFlush(t *testing.T) {
	ts, c, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	}))
	var hints []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if h.Get("Link") != "" {
			hints = append(hints, code)
		}
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", ts.URL, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "part1part2" || res.Trailer.Get("X-Sum") != "42" || res.Trailer.Get("X-Late") != "yes" {
		t.Fatalf("body %q trailers %v", b, res.Trailer)
	}
	if len(hints) != 1 || hints[0] != 103 {
		t.Fatalf("1xx seen %v, want one 103 with Link", hints)
	}
}

// A handler that declares more than it writes must not look complete.
func TestShortBodyIsReset(t *testing.T) {
	ts, c, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	}))
	res, err := c.Get(ts.URL)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("a body shorter than its Content-Length was delivered as whole")
	}
}

// Shutdown sends GOAWAY, lets the running stream finish, then the
// connection closes.
func TestShutdownIsGraceful(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	ts, c, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}))
	got := make(chan string, 1)
	go func() {
		res, err := c.Get(ts.URL + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- ts.Config.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // let GOAWAY go out before the answer
	close(release)
	if b := <-got; b != "done" {
		t.Fatalf("running stream got %q", b)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

var _ = errors.New
var _ = tls.VersionTLS13

// A body copied from a reader (a cache hit kept in a memfd or a file goes
// through io.Copy) arrives whole and in order through ReadFrom's pooled
// buffer, for sizes around the buffer's and the frame's.
func TestBodyFromReaderArrivesWhole(t *testing.T) {
	body := make([]byte, 300<<10)
	for i := range body {
		body[i] = byte(i*7 + i>>11)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("the response writer has no ReadFrom")
		}
		_, _ = io.Copy(w, io.NewSectionReader(bytes.NewReader(body), 0, int64(n)))
	})
	ts, c, _ := start(t, h)
	for _, n := range []int{0, 1, 16 << 10, 32<<10 + 1, 100 << 10, 300 << 10} {
		res, got := get(t, c, ts.URL+"/?n="+strconv.Itoa(n))
		if res.ProtoMajor != 2 || got != string(body[:n]) {
			t.Fatalf("n=%d: HTTP/%d, %d bytes, equal %v", n, res.ProtoMajor, len(got), got == string(body[:n]))
		}
	}
}
