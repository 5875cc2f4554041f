package listener_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"levee/internal/leveetest"
)

func h3Config(cert *leveetest.Cert, origin string, idle string) string {
	return tlsNodeConfig(cert, origin, "    http3: true\n", idle)
}

// tlsNodeConfig is a node with one TLS listener, its extra settings given
// as YAML lines (e.g. "    http3: true\n"), caching everything from
// origin; idle sets timeouts.idle unless empty.
func tlsNodeConfig(cert *leveetest.Cert, origin, listenerExtra, idle string) string {
	timeouts := ""
	if idle != "" {
		timeouts = "timeouts: {idle: " + idle + "}\n"
	}
	return fmt.Sprintf(`
listeners:
  - listen: "127.0.0.1:0"
%s    tls: {certificates: [{cert: %q, key: %q}]}
log: {access: false}
%ssites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, listenerExtra, cert.CertFile, cert.KeyFile, timeouts, origin)
}

func h3Client(cert *leveetest.Cert) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool, ServerName: "a.example"}}}
}

// reader returns a function that reads a response whole, failing t on
// any error.
func reader(t *testing.T) func(*http.Response, error) (*http.Response, string) {
	return func(res *http.Response, err error) (*http.Response, string) {
		t.Helper()
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
}

// HTTP/3 goes through the same chain as TCP: a GET, a POST with a body,
// a cache hit, each answered as over HTTP/1.1 and HTTP/2; the TCP side
// advertises it with Alt-Svc.
func TestHTTP3SameChain(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "posted %d bytes: %s", len(b), b[:10])
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		fmt.Fprintf(w, "page %s", r.URL.Path)
	}))
	n := leveetest.Start(t, h3Config(cert, o.URL, "30s"))
	base := "https://" + n.Addr("")
	c := h3Client(cert)
	read := reader(t)
	res, body := read(c.Get(base + "/a"))
	if res.Proto != "HTTP/3.0" || body != "page /a" {
		t.Fatalf("GET: %s %q", res.Proto, body)
	}
	post := strings.Repeat("0123456789", 100_000) // 1MB
	_, body = read(c.Post(base+"/form", "text/plain", strings.NewReader(post)))
	if body != "posted 1000000 bytes: 0123456789" {
		t.Fatalf("POST: %q", body)
	}
	res, body = read(c.Get(base + "/a"))
	if res.Header.Get("Cache-Status") != "levee; hit" || body != "page /a" {
		t.Fatalf("second GET: Cache-Status %q, body %q", res.Header.Get("Cache-Status"), body)
	}
	// The same hit over HTTP/2 and HTTP/1.1: same body and headers
	// (but Alt-Svc, which only TCP responses carry).
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool, ServerName: "a.example"}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		tres, tbody := read((&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(base + "/a"))
		want := fmt.Sprintf(`h3=":%s"; ma=86400`, base[strings.LastIndexByte(base, ':')+1:])
		if tbody != body || tres.Header.Get("Cache-Status") != res.Header.Get("Cache-Status") ||
			tres.Header.Get("Content-Type") != res.Header.Get("Content-Type") || tres.Header.Get("Alt-Svc") != want {
			t.Fatalf("%s: body %q Cache-Status %q Alt-Svc %q (want %q)", tres.Proto, tbody, tres.Header.Get("Cache-Status"), tres.Header.Get("Alt-Svc"), want)
		}
	}
}

// A reload during an HTTP/3 request neither cuts it nor closes the UDP
// socket: the request completes, and new requests still connect.
func TestHTTP3ReloadDuringRequest(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := newHeldOrigin(t)
	n := leveetest.Start(t, h3Config(cert, o.URL, "30s"))
	base := "https://" + n.Addr("")
	c := h3Client(cert)
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Get(base + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- result{string(b), err}
	}()
	if !o.waitArrived() {
		t.Fatal("the request never reached the origin")
	}
	// A reload that changes the listener's server settings.
	if code, body := n.PostConfig(h3Config(cert, o.URL, "45s")); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	close(o.release)
	r := <-done
	if r.err != nil || r.body != "done /slow" {
		t.Fatalf("request across the reload: %q, %v", r.body, r.err)
	}
	// The client's QUIC connection survived: the socket was kept.
	_, body := reader(t)(c.Get(base + "/same-conn"))
	if body != "done /same-conn" {
		t.Fatalf("after the reload, the same connection got %q", body)
	}
	_, body = reader(t)(h3Client(cert).Get(base + "/after"))
	if body != "done /after" {
		t.Fatalf("after the reload, a new client got %q", body)
	}
}

// The shield's connection gate counts QUIC connections too: over
// max_per_ip a second HTTP/3 connection is refused, and once the first
// ends, a new one is admitted.
func TestHTTP3ConnectionGate(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	n := leveetest.Start(t, h3Config(cert, o.URL, "30s")+"shield: {connections: {max_per_ip: 1}}\n")
	base := "https://" + n.Addr("")
	first := h3Client(cert)
	if _, body := reader(t)(first.Get(base + "/")); body != "ok" {
		t.Fatalf("first connection: %q", body)
	}
	second := h3Client(cert)
	second.Timeout = 2 * time.Second
	if res, err := second.Get(base + "/"); err == nil {
		res.Body.Close()
		t.Fatal("a second QUIC connection from the same IP was admitted over max_per_ip 1")
	}
	first.Transport.(*http3.Transport).Close()
	var err error
	for i := 0; i < 50; i++ {
		var res *http.Response
		third := h3Client(cert)
		third.Timeout = 2 * time.Second
		if res, err = third.Get(base + "/"); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no connection admitted after the first closed: %v", err)
}

// An HTTP/3 client gets the same status, body and headers as HTTP/1.1 and
// HTTP/2 clients for a cache hit, a pass-through and a POST (but Alt-Svc,
// on TCP only, and the per-response Date, Age and request ID).
func TestHTTP3SameAnswersAsTCP(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", "yes")
		switch r.URL.Path {
		case "/hit":
			w.Header().Set("Cache-Control", "public, max-age=600")
			w.Header().Set("ETag", `"h1"`)
		case "/pass":
			w.Header().Set("Cache-Control", "no-store")
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	}))
	n := leveetest.Start(t, h3Config(cert, o.URL, "30s"))
	base := "https://" + n.Addr("")
	tlsConf := &tls.Config{RootCAs: cert.Pool, ServerName: "a.example"}
	clients := map[string]*http.Client{
		"h3": h3Client(cert),
		"h2": {Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}},
		"h1": {Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf,
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}},
	}
	read := reader(t)
	read(clients["h1"].Get(base + "/hit"))  // fill
	read(clients["h1"].Get(base + "/pass")) // learn it is uncacheable (hit-for-miss)
	ignore := map[string]bool{"Date": true, "Age": true, "Alt-Svc": true, "X-Request-Id": true}
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/hit", ""}, {"GET", "/pass", ""}, {"POST", "/post", strings.Repeat("p", 70_000)},
	} {
		answers := map[string]string{}
		for _, proto := range []string{"h1", "h2", "h3"} {
			req, _ := http.NewRequest(rq.method, base+rq.path, strings.NewReader(rq.body))
			res, body := read(clients[proto].Do(req))
			var sig strings.Builder
			fmt.Fprintf(&sig, "%d %q", res.StatusCode, body)
			for _, k := range slices.Sorted(maps.Keys(res.Header)) {
				if !ignore[k] {
					fmt.Fprintf(&sig, " %s=%q", k, res.Header[k])
				}
			}
			answers[proto] = sig.String()
		}
		if answers["h1"] != answers["h2"] || answers["h2"] != answers["h3"] {
			t.Fatalf("%s %s differs by protocol:\nh1 %s\nh2 %s\nh3 %s", rq.method, rq.path, answers["h1"], answers["h2"], answers["h3"])
		}
	}
}
