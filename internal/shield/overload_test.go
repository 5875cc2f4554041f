package shield

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// The overload guard's steps: level 1 turns keep-alive off, level 2 sheds
// all but keep requests, level 3 stops accepting connections.
func TestOverloadSteps(t *testing.T) {
	s, st := testShield(t, `
shield:
  admission: {enabled: true, keep: {paths: [/healthz]}}
`)
	g := float64(runtime.NumGoroutine())
	for _, c := range []struct {
		threshold float64
		level     int
	}{{g / 0.9, 1}, {g / 1.1, 2}, {g / 1.5, 3}, {g * 10, 0}} {
		st.sampleOverload(&overloadCfg{goroutines: c.threshold, interval: time.Second}, nil)
		if got := st.OverloadLevel(); got != c.level {
			t.Fatalf("threshold %.0f with %.0f goroutines: level %d, want %d", c.threshold, g, got, c.level)
		}
		rec, _ := call(s, httptest.NewRequest("GET", "/", nil), "192.0.2.1", okNext)
		keep, _ := call(s, httptest.NewRequest("GET", "/healthz", nil), "192.0.2.1", okNext)
		switch c.level {
		case 0:
			if rec.Code != 200 || rec.Header().Get("Connection") != "" {
				t.Fatalf("level 0: %d %v", rec.Code, rec.Header())
			}
		case 1:
			if rec.Code != 200 || rec.Header().Get("Connection") != "close" {
				t.Fatalf("level 1 must turn keep-alive off: %d %v", rec.Code, rec.Header())
			}
		default:
			if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || keep.Code != 200 {
				t.Fatalf("level %d: ordinary %d, keep %d", c.level, rec.Code, keep.Code)
			}
		}
		a, b := net.Pipe()
		out := st.Gate.Admit(&fakeAddrConn{Conn: a})
		if (out == nil) != (c.level == 3) {
			t.Fatalf("level %d: gate admitted=%v", c.level, out != nil)
		}
		if out != nil {
			out.Close()
		}
		b.Close()
	}
	if st.Gate.Open() != 0 {
		t.Fatalf("gate counts %d open connections after all closed", st.Gate.Open())
	}
}

type fakeAddrConn struct{ net.Conn }

func (fakeAddrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1} }

// A flood of one million distinct keys through the shield phase keeps the
// rule's table at its bound, evictions counted.
func TestMillionKeysThroughPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	s, st := testShield(t, `
shield:
  max_keys: 10000
  rules: [{name: k, key: ["header:X-Key"], rate: 1/m}]
`)
	r := httptest.NewRequest("GET", "/", nil)
	n := 1_000_000
	if raceOn {
		n = 200_000
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := make([]byte, 0, 16)
	for i := 0; i < n; i++ {
		buf = appendHex(buf[:0], uint64(i))
		r.Header["X-Key"] = []string{string(buf)}
		if _, err := call(s, r, "192.0.2.1", okNext); err != nil {
			t.Fatalf("key %d limited on its first request: %v", i, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	ts := st.Status().Tables["k"]
	if ts.Keys > ts.Cap || ts.Cap > 10_048 {
		t.Fatalf("table holds %d of cap %d", ts.Keys, ts.Cap)
	}
	if ts.Evictions < uint64(n)*9/10 {
		t.Fatalf("evictions %d for %d keys", ts.Evictions, n)
	}
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 32<<20 {
		t.Fatalf("heap grew by %d bytes", grow)
	}
	_ = http.StatusOK
}

func appendHex(b []byte, v uint64) []byte {
	const hex = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[(v>>uint(i))&15])
	}
	return b
}

type addrConn struct {
	net.Conn
	ip net.IP
}

func (c addrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: c.ip, Port: 1} }

// The gate's total and per-prefix limits, and the per-IP limit tightened
// while a site is under attack.
func TestGateLimits(t *testing.T) {
	_, st := testShield(t, `
shield:
  attack_factor: 0.5
  connections: {max_total: 6, max_per_ip: 4, key: prefix}
`)
	admit := func(ip string) net.Conn {
		a, _ := net.Pipe()
		return st.Gate.Admit(addrConn{Conn: a, ip: net.ParseIP(ip)})
	}
	var open []net.Conn
	for i := 1; i <= 4; i++ {
		if c := admit(fmt.Sprintf("192.0.2.%d", i)); c == nil {
			t.Fatalf("connection %d of a /24 refused under its limit of 4", i)
		} else {
			open = append(open, c)
		}
	}
	if admit("192.0.2.200") != nil {
		t.Fatal("a fifth connection from the same /24 was admitted")
	}
	open = append(open, admit("198.51.100.1"), admit("198.51.100.2"))
	if open[4] == nil || open[5] == nil {
		t.Fatal("another prefix refused")
	}
	if admit("203.0.113.1") != nil {
		t.Fatal("a seventh connection over max_total 6 was admitted")
	}
	for _, c := range open {
		c.Close()
	}
	st.SetUnderAttack("s", true)
	if admit("192.0.2.1") == nil || admit("192.0.2.2") == nil || admit("192.0.2.3") != nil {
		t.Fatal("under attack the per-IP limit must halve to 2")
	}
}
