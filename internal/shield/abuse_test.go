package shield_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// 5,000 slowloris connections and a slow-read client do not stop other
// clients from being served; the slow reader and a slow request body are
// cut by the minimum transfer rate.
func TestSlowlorisAndSlowRead(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	conns := 5000
	if lim.Cur < 2*uint64(conns)+500 {
		conns = int(lim.Cur/2) - 500
		t.Logf("file descriptor limit %d: using %d slowloris connections", lim.Cur, conns)
	}
	o := newSmallOrigin(t, 0, 100)
	n := leveetest.Start(t, nodeYAML(o.URL, `
timeouts: {read_header: 20s}
shield:
  min_rate: 64KiB
  min_rate_window: 1s
`))
	addr := n.Addr("")
	var mu sync.Mutex
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+g))}, Timeout: 5 * time.Second}
			for i := 0; i < conns/10; i++ {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Errorf("slowloris dial %d: %v", i, err)
					return
				}
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
				mu.Lock()
				slow = append(slow, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// A slow reader: asks for 64 MiB and reads nothing.
	sr, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	fmt.Fprintf(sr, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	srStart := time.Now()
	// A slow request body: 1 byte every 200 ms of a declared 1000.
	sb, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	fmt.Fprintf(sb, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := sb.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	// Others are served while all of that goes on.
	c := clientFrom("127.0.0.9", 4)
	for i := 0; i < 50; i++ {
		if code, _, _, err := get(c, n.URL("/ok")); err != nil || code != 200 {
			t.Fatalf("request %d with %d slowloris connections open: %d %v", i, len(slow), code, err)
		}
	}
	// The slow reader is cut: after it has stalled for a few windows,
	// reading drains what was buffered and then ends, short of 64 MiB.
	time.Sleep(time.Until(srStart.Add(4 * time.Second)))
	sr.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, _ := io.Copy(io.Discard, sr)
	if got >= 64<<20 {
		t.Fatalf("slow reader got the whole body")
	}
	t.Logf("%d slowloris connections held; slow reader cut after %v having %d bytes buffered", len(slow), time.Since(srStart).Round(time.Millisecond), got)
	sb.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, _ := bufio.NewReader(sb).ReadString('\n')
	if !strings.Contains(resp, "408") && len(resp) != 0 {
		t.Fatalf("slow body: got %q, want 408 or a closed connection", resp)
	}
	_, _, body, _ := get(c, n.AdminURL("/metrics"))
	for _, want := range []string{`levee_shield_min_rate_cuts_total{direction="response"}`, `levee_shield_min_rate_cuts_total{direction="request"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("metric %s missing", want)
		}
	}
}

// h2 frame helpers: just enough HTTP/2 to misbehave on purpose.
func frame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

// getHeaders is an HPACK block for GET http://x/slow from the static
// table: :method GET, :scheme http, :path literal, :authority literal.
func getHeaders(path string) []byte {
	b := []byte{0x82, 0x86, 0x04, byte(len(path))}
	b = append(b, path...)
	return append(b, 0x01, 0x01, 'x')
}

// h2Mode is one way a client reaches a node over HTTP/2: h2c (Go's
// x/net server) or TLS with ALPN h2 (levee's own server, internal/h2server).
type h2Mode struct {
	name string
	tls  bool
}

var h2Modes = []h2Mode{{"h2c", false}, {"tls", true}}

// node starts a node whose only listener speaks HTTP/2 the mode's way.
func (m h2Mode) node(t *testing.T, origin, shield string) *leveetest.Node {
	y := nodeYAML(origin, shield)
	if m.tls {
		cert := leveetest.SelfSigned(t, "127.0.0.1")
		y = strings.Replace(y, `listeners: [{listen: "127.0.0.1:0", h2c: true}]`,
			fmt.Sprintf(`listeners: [{listen: "127.0.0.1:0", tls: {certificates: [{cert: %q, key: %q}]}}]`, cert.CertFile, cert.KeyFile), 1)
	}
	return leveetest.Start(t, y)
}

func (m h2Mode) dial(t *testing.T, addr string) net.Conn {
	if !m.tls {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	return c
}

// client is an HTTP/2-only client for the mode.
func (m h2Mode) client() *http.Client {
	var p http.Protocols
	if m.tls {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: &p,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func (m h2Mode) url(n *leveetest.Node, path string) string {
	if m.tls {
		return "https://" + n.Addr("") + path
	}
	return n.URL(path)
}

func h2Conn(t *testing.T, m h2Mode, addr string) (net.Conn, *frameReader) {
	c := m.dial(t, addr)
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	c.Write(frame(0x4, 0, 0, nil)) // SETTINGS
	fr := &frameReader{r: bufio.NewReader(c), done: make(chan struct{})}
	go fr.run()
	return c, fr
}

// frameReader reads frames until the connection ends, noting GOAWAY and
// the server's SETTINGS.
type frameReader struct {
	r        *bufio.Reader
	done     chan struct{}
	mu       sync.Mutex
	goaway   bool
	settings map[uint16]uint32
}

func (f *frameReader) run() {
	defer close(f.done)
	hdr := make([]byte, 9)
	for {
		if _, err := io.ReadFull(f.r, hdr); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		p := make([]byte, n)
		if _, err := io.ReadFull(f.r, p); err != nil {
			return
		}
		f.mu.Lock()
		switch hdr[3] {
		case 0x7:
			f.goaway = true
		case 0x4:
			if hdr[4]&1 == 0 {
				f.settings = map[uint16]uint32{}
				for i := 0; i+6 <= len(p); i += 6 {
					f.settings[binary.BigEndian.Uint16(p[i:])] = binary.BigEndian.Uint32(p[i+2:])
				}
			}
		}
		f.mu.Unlock()
	}
}

// An HTTP/2 client that resets streams in a loop is disconnected within
// 1 s. The loop is paced (a pair a millisecond) so that net/http's own
// guard (4x max_concurrent_streams queued handlers) never trips and the
// shield's reset counter is what cuts it.
func TestH2RapidResetDisconnects(t *testing.T) {
	for _, m := range h2Modes {
		t.Run(m.name, func(t *testing.T) { testH2RapidResetDisconnects(t, m) })
	}
}

func testH2RapidResetDisconnects(t *testing.T, m h2Mode) {
	o := newSmallOrigin(t, 20*time.Millisecond, 100)
	n := m.node(t, o.URL, `
shield:
  h2_max_resets_per_second: 50
`)
	c, fr := h2Conn(t, m, n.Addr(""))
	defer c.Close()
	start := time.Now()
	var cut time.Duration
	for id := uint32(1); id < 20_000 && cut == 0; id += 2 {
		if time.Since(start) > 5*time.Second {
			break
		}
		_, err1 := c.Write(frame(0x1, 0x5, id, getHeaders("/slow"))) // HEADERS, END_STREAM|END_HEADERS
		_, err2 := c.Write(frame(0x3, 0, id, []byte{0, 0, 0, 8}))    // RST_STREAM CANCEL
		select {
		case <-fr.done:
			cut = time.Since(start)
		default:
			if err1 != nil || err2 != nil {
				cut = time.Since(start)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if cut == 0 {
		t.Fatal("a client resetting streams in a loop for 5 s was never disconnected")
	}
	t.Logf("rapid-reset client disconnected after %v", cut)
	if cut > time.Second {
		t.Fatalf("disconnected after %v, want within 1 s", cut)
	}
	_, _, body, _ := get(clientFrom("127.0.0.3", 1), n.AdminURL("/metrics"))
	if !strings.Contains(body, "levee_shield_h2_reset_disconnects_total 1") {
		t.Fatal("the connection was not cut by the shield's reset guard")
	}
	if code, _, _, err := get(m.client(), m.url(n, "/ok")); err != nil || code != 200 {
		t.Fatalf("others are still served: %d %v", code, err)
	}
}

// A CONTINUATION flood (headers that never end) is cut off, and the server
// advertises the configured stream limit.
func TestH2ContinuationFloodAndLimits(t *testing.T) {
	for _, m := range h2Modes {
		t.Run(m.name, func(t *testing.T) { testH2ContinuationFloodAndLimits(t, m) })
	}
}

func testH2ContinuationFloodAndLimits(t *testing.T, m h2Mode) {
	o := newSmallOrigin(t, 0, 100)
	n := m.node(t, o.URL, `
limits: {max_header_bytes: 16KiB}
`)
	c, fr := h2Conn(t, m, n.Addr(""))
	defer c.Close()
	hb := getHeaders("/")
	c.Write(frame(0x1, 0x1, 1, hb)) // HEADERS, END_STREAM, no END_HEADERS
	// Each CONTINUATION carries a literal header of 1 KiB.
	lit := append([]byte{0x00, 0x03, 'x', '-', 'a', 0x7f, 0x81, 0x07}, bytes.Repeat([]byte("a"), 1024)...)
	sent := 0
	for i := 0; i < 100_000; i++ {
		if _, err := c.Write(frame(0x9, 0, 1, lit)); err != nil {
			break
		}
		sent += len(lit)
		select {
		case <-fr.done:
			i = 1 << 30
		default:
		}
	}
	select {
	case <-fr.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("a CONTINUATION flood of %d bytes was not cut off", sent)
	}
	if sent > 16<<20 {
		t.Fatalf("the server read %d bytes of headers before cutting off", sent)
	}
	t.Logf("CONTINUATION flood cut off after %d bytes sent", sent)
	if m.tls { // TLS listeners use levee's own HTTP/2 server, which counts its cuts
		_, _, body, _ := get(clientFrom("127.0.0.3", 1), n.AdminURL("/metrics"))
		if cuts := h2Cuts(body); cuts != 1 {
			t.Fatalf("levee_http2_connections_cut_total adds up to %d, want the 1 cut connection:\n%s", cuts, body)
		}
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if got := fr.settings[0x3]; got != 100 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want the configured 100", got)
	}
	if got := fr.settings[0x6]; got == 0 || got > 64<<10 {
		t.Fatalf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want a deliberate bound", got)
	}
}

var _ = http.StatusOK

// h2Cuts adds up levee_http2_connections_cut_total over its reasons.
func h2Cuts(metrics string) int {
	total := 0
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, "levee_http2_connections_cut_total{"); ok {
			n, _ := strconv.Atoi(v[strings.LastIndexByte(v, ' ')+1:])
			total += n
		}
	}
	return total
}

// A well-behaved HTTP/2 client making many quick requests on one
// connection is not mistaken for a rapid-reset attacker.
func TestH2LegitClientNotCut(t *testing.T) {
	for _, m := range h2Modes {
		t.Run(m.name, func(t *testing.T) { testH2LegitClientNotCut(t, m) })
	}
}

func testH2LegitClientNotCut(t *testing.T, m h2Mode) {
	o := newSmallOrigin(t, 0, 100)
	n := m.node(t, o.URL, `
shield:
  h2_max_resets_per_second: 5
`)
	c := m.client()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				res, err := c.Get(m.url(n, "/ok"))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.ProtoMajor != 2 || res.StatusCode != 200 {
					errs <- fmt.Errorf("%s %d", res.Proto, res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, _, body, _ := get(clientFrom("127.0.0.1", 1), n.AdminURL("/metrics"))
	if !strings.Contains(body, "levee_shield_h2_reset_disconnects_total 0") {
		t.Fatal("a legitimate h2 client was cut")
	}
}

// PROXY protocol from a trusted proxy gives the real client address, which
// the lists and rate limits then see.
func TestProxyProtocolFromTrustedProxy(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	n := leveetest.Start(t, "trusted_proxies: [127.0.0.1]\n"+nodeYAML(o.URL, `
shield:
  connections: {proxy_protocol: true}
  lists: {deny: [203.0.113.0/24]}
`))
	send := func(src string) string {
		c, err := net.Dial("tcp", n.Addr(""))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "PROXY TCP4 %s 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", src)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	if got := send("203.0.113.7"); !strings.Contains(got, "403") {
		t.Fatalf("denied client behind the proxy: %q", got)
	}
	if got := send("198.51.100.7"); !strings.Contains(got, "200") {
		t.Fatalf("allowed client behind the proxy: %q", got)
	}
}
