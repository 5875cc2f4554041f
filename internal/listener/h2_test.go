package listener_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"levee/internal/leveetest"
)

func h2Config(cert *leveetest.Cert, origin, server, idle string) string {
	return tlsNodeConfig(cert, origin, "    http2: {server: "+server+"}\n", idle)
}

// answersMalformed sends a request with a connection-specific header,
// which RFC 9113 8.2.2 makes malformed: levee's server resets the stream,
// Go's (1.26) answers it. It tells which server a listener runs.
func answersMalformed(t *testing.T, addr string) bool {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.example"}, {":path", "/m"}, {"connection", "keep-alive"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			return false
		case *http2.HeadersFrame:
			if f.StreamID == 1 {
				return true
			}
		}
	}
}

// listeners[].http2.server picks the HTTP/2 server of a TLS listener;
// both serve the node's chain.
func TestHTTP2ServerSwitch(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		fmt.Fprintf(w, "page %s", r.URL.Path)
	}))
	for _, server := range []string{"levee", "go"} {
		t.Run(server, func(t *testing.T) {
			n := leveetest.Start(t, h2Config(cert, o.URL, server, "30s"))
			c := h2Client(cert)
			for i := 0; i < 2; i++ {
				res, body := reader(t)(c.Get("https://" + n.Addr("") + "/a"))
				if res.ProtoMajor != 2 || body != "page /a" {
					t.Fatalf("%s %q", res.Proto, body)
				}
			}
			if got := answersMalformed(t, n.Addr("")); got != (server == "go") {
				t.Fatalf("server %s: answered a malformed request: %v", server, got)
			}
		})
	}
}

func h2Client(cert *leveetest.Cert) *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p,
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool, ServerName: "a.example"}}}
}

// A reload that swaps the server drains HTTP/2 connections as it drains
// HTTP/1.1 ones: the request in flight completes, then GOAWAY moves the
// client to a new connection on the new server.
func TestHTTP2ReloadDrainsWithGoAway(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := newHeldOrigin(t)
	n := leveetest.Start(t, h2Config(cert, o.URL, "levee", "30s"))
	base := "https://" + n.Addr("")
	c := h2Client(cert)
	reader(t)(c.Get(base + "/warm"))
	done := make(chan string, 1)
	go func() {
		res, err := c.Get(base + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- string(b)
	}()
	o.waitArrived()
	if code, body := n.PostConfig(h2Config(cert, o.URL, "levee", "45s")); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	close(o.release)
	if b := <-done; b != "done /slow" {
		t.Fatalf("request across the reload: %q", b)
	}
	var reused atomic.Bool
	for i := 0; i < 50; i++ { // GOAWAY reaches the client just after the answer
		reused.Store(false)
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }})
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/after", nil)
		if _, body := reader(t)(c.Do(req)); body != "done /after" {
			t.Fatalf("after the reload: %q", body)
		}
		if !reused.Load() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the client kept its connection to the retired server")
}
