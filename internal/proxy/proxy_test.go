package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

func site(origin string, extra string) string {
	return fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: true}
%s
sites:
  - name: t
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
      - path: /literal/
        host_header: origin.internal
        origins: [{url: %q}]
      - path: /originhost/
        host_header: origin
        set_headers: {X-Edge: levee}
        remove_headers: [X-Secret]
        origins: [{url: %q}]
`, extra, origin, origin, origin)
}

// echoHeaders answers with the request headers the origin saw.
func echoHeaders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not reach the client")
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprintf(w, "host=%s\n", r.Host)
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "Via",
			"X-Request-Id", "X-Hop", "Keep-Alive", "Te", "X-Edge", "X-Secret", "Proxy-Authorization"} {
			fmt.Fprintf(w, "%s=%s\n", k, strings.Join(r.Header.Values(k), "|"))
		}
	})
}

func lines(body string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestHeadersUntrustedClient(t *testing.T) {
	o := leveetest.NewOrigin(t, echoHeaders())
	n := leveetest.Start(t, site(o.URL, ""))
	req, _ := http.NewRequest("GET", n.URL("/x"), nil)
	req.Host = "shop.example"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("X-Request-Id", "forged")
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "secret")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	got := lines(string(b))
	want := map[string]string{
		"host": "shop.example", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http",
		"X-Forwarded-Host": "shop.example", "Forwarded": "for=127.0.0.1;proto=http;host=shop.example",
		"Via": "1.1 levee", "X-Hop": "", "Proxy-Authorization": "",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("origin saw %s=%q, want %q", k, got[k], v)
		}
	}
	id := res.Header.Get("X-Request-Id")
	if id == "" || id == "forged" || got["X-Request-Id"] != id {
		t.Errorf("request id: client got %q, origin saw %q; want the same new id", id, got["X-Request-Id"])
	}
	if res.Header.Get("X-Hop") != "" || res.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers reached the client: %v", res.Header)
	}
}

func TestHeadersTrustedProxy(t *testing.T) {
	o := leveetest.NewOrigin(t, echoHeaders())
	n := leveetest.Start(t, site(o.URL, `trusted_proxies: ["127.0.0.0/8"]`))
	req, _ := http.NewRequest("GET", n.URL("/x"), nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Request-Id", "abc123")
	req.Header.Set("Via", "1.1 cdn")
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	got := lines(string(b))
	if got["X-Forwarded-For"] != "203.0.113.9, 127.0.0.1" || got["X-Forwarded-Proto"] != "https" {
		t.Errorf("trusted chain not kept: %v", got)
	}
	if got["X-Request-Id"] != "abc123" || res.Header.Get("X-Request-Id") != "abc123" {
		t.Errorf("trusted request id not kept: origin %q client %q", got["X-Request-Id"], res.Header.Get("X-Request-Id"))
	}
	if got["Via"] != "1.1 cdn|1.1 levee" {
		t.Errorf("Via = %q", got["Via"])
	}
	if !strings.Contains(n.Access.String(), `"client":"203.0.113.9"`) {
		t.Errorf("access log does not show the forwarded client:\n%s", n.Access.String())
	}
}

func TestHostHeaderAndHeaderOps(t *testing.T) {
	o := leveetest.NewOrigin(t, echoHeaders())
	n := leveetest.Start(t, site(o.URL, ""))
	_, body, _ := leveetest.Get(t, n.URL("/literal/a"))
	if lines(body)["host"] != "origin.internal" {
		t.Errorf("literal host_header: origin saw %q", lines(body)["host"])
	}
	req, _ := http.NewRequest("GET", n.URL("/originhost/a"), nil)
	req.Header.Set("X-Secret", "s")
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	got := lines(string(b))
	if got["host"] != strings.TrimPrefix(o.URL, "http://") || got["X-Edge"] != "levee" || got["X-Secret"] != "" {
		t.Errorf("host_header origin / header ops: %v", got)
	}
}

func TestRequestBodyStreams(t *testing.T) {
	firstSeen := make(chan struct{})
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(firstSeen)
		rest, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s%s", buf, rest)
	}))
	n := leveetest.Start(t, site(o.URL, ""))
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case <-firstSeen: // the origin has the first part while the client still holds the rest
			pw.Write([]byte("-second"))
		case <-time.After(5 * time.Second):
			pw.CloseWithError(fmt.Errorf("origin never saw the first chunk: body was buffered"))
			return
		}
		pw.Close()
	}()
	res, err := leveetest.Client().Post(n.URL("/up"), "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "first-second" {
		t.Fatalf("got %q", b)
	}
}

func TestResponseStreamsAndTrailers(t *testing.T) {
	next := make(chan struct{})
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "data: two\n\n")
		w.Header().Set("X-Checksum", "42")
	}))
	n := leveetest.Start(t, site(o.URL, ""))
	res, err := leveetest.Client().Get(n.URL("/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event did not arrive before the second was sent: %q %v", line, err)
	}
	close(next)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: two") {
		t.Fatalf("rest = %q", rest)
	}
	if res.Trailer.Get("X-Checksum") != "42" {
		t.Errorf("trailer = %v", res.Trailer)
	}
}

func TestExpectContinue(t *testing.T) {
	var bodies atomic.Int64
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Reject") != "" {
			w.WriteHeader(http.StatusExpectationFailed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies.Add(int64(len(b)))
		fmt.Fprintf(w, "got %d", len(b))
	}))
	n := leveetest.Start(t, site(o.URL, ""))
	c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("PUT", n.URL("/put"), strings.NewReader(strings.Repeat("x", 1000)))
	req.Header.Set("Expect", "100-continue")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "got 1000" {
		t.Fatalf("status %d body %q", res.StatusCode, b)
	}
	// An origin that refuses: the body must not be sent to it.
	before := bodies.Load()
	req, _ = http.NewRequest("PUT", n.URL("/put"), strings.NewReader(strings.Repeat("y", 1000)))
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("X-Reject", "1")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusExpectationFailed || bodies.Load() != before {
		t.Fatalf("status %d, origin read %d more bytes", res.StatusCode, bodies.Load()-before)
	}
}

func TestOriginErrorsAreClassified(t *testing.T) {
	n := leveetest.Start(t, site(leveetest.RefusedURL(t), ""))
	status, body, _ := leveetest.Get(t, n.URL("/"))
	if status != 502 || !strings.Contains(body, "origin unreachable") || !strings.Contains(body, "request id: ") {
		t.Fatalf("refused origin: %d %q", status, body)
	}

	hang := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	cfg := strings.Replace(site(hang.URL, ""), "origins: [{url: \""+hang.URL+"\"}]\n      - path: /literal/",
		"origins: [{url: \""+hang.URL+"\"}]\n        timeouts: {response_header: 300ms}\n      - path: /literal/", 1)
	n2 := leveetest.Start(t, cfg)
	status, body, _ = leveetest.Get(t, n2.URL("/"))
	if status != 504 || !strings.Contains(body, "origin timed out") {
		t.Fatalf("hanging origin: %d %q", status, body)
	}
}

func TestClientGoneIs499NotOriginFault(t *testing.T) {
	started := make(chan struct{}, 1)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	n := leveetest.Start(t, site(o.URL, ""))
	c, err := net.Dial("tcp", n.Addr(""))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(n.Access.String(), `"status":499`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(n.Access.String(), `"status":499`) {
		t.Fatalf("no 499 in access log:\n%s", n.Access.String())
	}
	if m, _ := n.Metrics().Registry.Gather(); strings.Contains(fmt.Sprint(m), "levee_proxy_origin_errors_total") {
		t.Errorf("client cancel counted as an origin error")
	}
}

func TestTotalTimeout(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("start"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	n := leveetest.Start(t, fmt.Sprintf(`
admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: t, hosts: ["*"], routes: [{origins: [{url: %q}], timeouts: {total: 300ms}}]}]
`, o.URL))
	start := time.Now()
	res, err := leveetest.Client().Get(n.URL("/"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		t.Fatal("a response cut by the total timeout read as complete")
	}
	if time.Since(start) > 4*time.Second {
		t.Fatal("total timeout did not cut the exchange")
	}
}

// A plain origin head goes to the client as wire bytes through the whole
// node: names canonical, hop-by-hop fields gone, the origin's fields in
// the origin's order, its Date and length once each, levee's own fields
// added.
func TestOriginHeadReachesClientThroughNode(t *testing.T) {
	o := raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string {
			return "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nKeep-Alive: timeout=5\r\n" +
				"Proxy-Connection: keep-alive\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nX-Padded: \t v \r\n" +
				"Date: Mon, 07 Dec 2026 11:36:35 GMT\r\nContent-Length: 5\r\n\r\nhello"
		}
	})
	n := leveetest.Start(t, site(o.URL, ""))
	c, err := net.Dial("tcp", n.Addr(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ { // the second on a pooled origin connection
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: shop\r\n\r\n")
		var head []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == "\r\n" {
				break
			}
			head = append(head, strings.TrimSuffix(line, "\r\n"))
		}
		body := make([]byte, 5)
		if _, err := io.ReadFull(br, body); err != nil || string(body) != "hello" {
			t.Fatalf("body %q %v", body, err)
		}
		count := map[string]int{}
		var cookies, order []string
		for _, l := range head[1:] {
			k, v, _ := strings.Cut(l, ": ")
			count[k]++
			if k != "X-Request-Id" {
				order = append(order, k)
			}
			if k == "Set-Cookie" {
				cookies = append(cookies, v)
			}
			if k == "X-Padded" && v != "v" {
				t.Errorf("X-Padded %q, want trimmed", v)
			}
		}
		if head[0] != "HTTP/1.1 200 OK" || count["Content-Type"] != 1 || count["Content-Length"] != 1 ||
			count["Date"] != 1 || count["X-Request-Id"] != 1 || strings.Join(cookies, "|") != "a=1|b=2" {
			t.Fatalf("head %q", head)
		}
		if got := strings.Join(order, ","); got != "Content-Type,Set-Cookie,Set-Cookie,X-Padded,Date,Content-Length" {
			t.Fatalf("origin fields in the order %s", got)
		}
		for _, hop := range []string{"Keep-Alive", "Proxy-Connection", "Connection", "content-type", "set-cookie"} {
			if count[hop] != 0 {
				t.Fatalf("%s reached the client: %q", hop, head)
			}
		}
	}
}
