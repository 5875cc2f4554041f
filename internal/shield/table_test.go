package shield

import (
	"hash/maphash"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/pipeline"
	"levee/internal/telemetry"
)

func TestGCRABurstThenRate(t *testing.T) {
	tb := NewTable(1000, nil)
	iv := int64(10 * time.Millisecond) // 100/s
	tau := iv * 5                      // burst 5
	now := int64(time.Hour)
	for i := 0; i < 5; i++ {
		if ok, _ := tb.Allow(1, now, iv, tau); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := tb.Allow(1, now, iv, tau)
	if ok || wait <= 0 || wait > iv {
		t.Fatalf("6th request: ok=%v wait=%v, want refused with a wait up to one interval", ok, time.Duration(wait))
	}
	if ok, _ := tb.Allow(2, now, iv, tau); !ok {
		t.Fatal("another key shares the first key's bucket")
	}
	if ok, _ := tb.Allow(1, now+iv, iv, tau); !ok {
		t.Fatal("one interval later a request must conform")
	}
	if ok, _ := tb.Allow(1, now+iv, iv, tau); ok {
		t.Fatal("only one request per interval once the burst is spent")
	}
}

// A flood of one million distinct keys keeps the table at its bound, with
// live evictions counted, and the heap stays small.
func TestMillionKeysBounded(t *testing.T) {
	ctr := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	tb := NewTable(10_000, ctr)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	iv, tau := int64(time.Second), int64(10*time.Second)
	now := int64(time.Hour)
	for k := uint64(0); k < 1_000_000; k++ {
		tb.Allow(k*0x9E3779B97F4A7C15, now+int64(k), iv, tau)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := tb.Len(); n > tb.Cap() || n < tb.Cap()/2 {
		t.Fatalf("table holds %d entries, bound %d", n, tb.Cap())
	}
	ev := tb.Evictions()
	if ev < 900_000 || float64(ev) != telemetry.Value(ctr) {
		t.Fatalf("evictions = %d (metric %v), want about 990000 counted", ev, telemetry.Value(ctr))
	}
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 16<<20 {
		t.Fatalf("heap grew by %d bytes for a 10000-key table", grow)
	}
}

func TestKeyHash(t *testing.T) {
	seed := maphash.MakeSeed()
	r := httptest.NewRequest("GET", "/a", nil)
	r.Header.Set("X-Api-Key", "k1")
	r.Header.Set("Cookie", "a=1; session=s1")
	ip1 := netip.MustParseAddr("192.0.2.1")
	ip2 := netip.MustParseAddr("192.0.2.2")
	ip3 := netip.MustParseAddr("198.51.100.1")
	h := func(spec []string, r *http.Request, ip netip.Addr) uint64 {
		v, ok := keyHash(seed, parseKey(spec), r, ip)
		if !ok {
			t.Fatalf("%v: key absent", spec)
		}
		return v
	}
	if h([]string{"ip"}, r, ip1) == h([]string{"ip"}, r, ip2) {
		t.Error("ip: two addresses share a key")
	}
	if h([]string{"prefix"}, r, ip1) != h([]string{"prefix"}, r, ip2) || h([]string{"prefix"}, r, ip1) == h([]string{"prefix"}, r, ip3) {
		t.Error("prefix: want one key per /24")
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:1")
	if h([]string{"prefix"}, r, v6a) != h([]string{"prefix"}, r, v6b) {
		t.Error("prefix: want one key per /64")
	}
	if h([]string{"header:x-api-key", "ip"}, r, ip1) == h([]string{"header:x-api-key", "ip"}, r, ip2) {
		t.Error("combination header+ip: the ip part is ignored")
	}
	if h([]string{"cookie:session"}, r, ip1) != h([]string{"cookie:session"}, r, ip2) {
		t.Error("cookie: same cookie from two addresses must share a key")
	}
	r2 := httptest.NewRequest("GET", "/b", nil)
	if h([]string{"path"}, r, ip1) == h([]string{"path"}, r2, ip1) {
		t.Error("path: two paths share a key")
	}
	if _, ok := keyHash(seed, parseKey([]string{"cookie:session"}), r2, ip1); ok {
		t.Error("absent cookie must make the rule not apply")
	}
}

// The rate-limit hot path (key hash and table) does not allocate.
func TestRateHotPathAllocs(t *testing.T) {
	tb := NewTable(100_000, nil)
	seed := maphash.MakeSeed()
	parts := parseKey([]string{"ip", "header:X-Api-Key", "cookie:s"})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Api-Key", "abc")
	r.Header.Set("Cookie", "s=1")
	ip := netip.MustParseAddr("192.0.2.1")
	n := testing.AllocsPerRun(1000, func() {
		k, _ := keyHash(seed, parts, r, ip)
		tb.Allow(k, 1, 1000, 1e12)
	})
	if n != 0 {
		t.Fatalf("%v allocations per request, want 0", n)
	}
}

func BenchmarkTableAllow(b *testing.B) {
	tb := NewTable(100_000, nil)
	seed := maphash.MakeSeed()
	parts := parseKey([]string{"ip"})
	r := httptest.NewRequest("GET", "/", nil)
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint32(0)
		for pb.Next() {
			i++
			ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			k, _ := keyHash(seed, parts, r, ip)
			tb.Allow(k, int64(time.Since(start)), int64(time.Millisecond), int64(100*time.Millisecond))
		}
	})
}

// BenchmarkPhase is one allowed request through the shield phase with two
// rules, lists and admission on.
func BenchmarkPhase(b *testing.B) {
	s, _ := testShield(b, `
shield:
  rules: [{name: a, rate: 1000000/s, burst: 1000000}, {name: b, key: [prefix, path], rate: 1000000/s, burst: 1000000}]
  lists: {deny: [203.0.113.0/24]}
  admission: {enabled: true, max_limit: 100000, initial_limit: 100000}
`)
	h := s.Phase()(okNextHandler{}) // enters the origin gate, as the proxy does
	r := httptest.NewRequest("GET", "/x", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
		ex.Client = netip.MustParseAddr("192.0.2.1")
		ex.Site, ex.Route = testSite, testRoute
		for pb.Next() {
			ex.GateState = 0
			if err := h.ServeHTTP(ex, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
