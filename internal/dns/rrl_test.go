package dns

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func rrlConfig(rate, slip int, allow ...string) *RRLConfig {
	c := &Config{RRL: RRLConfig{Rate: rate, Slip: slip, Allow: allow, ExemptLoopback: boolp(true)}}
	c.SetDefaults()
	return &c.RRL
}

func boolp(b bool) *bool { return &b }

func TestRRLLimitsPerPrefixWithSlip(t *testing.T) {
	evicted := 0
	r := newRRL(rrlConfig(10, 2, "198.51.100.0/24"), func() { evicted++ })
	now := time.Unix(1700000000, 0).UnixNano()
	a := netip.MustParseAddr("192.0.2.7")
	same := netip.MustParseAddr("192.0.2.200") // same /24
	counts := map[rrlAction]int{}
	for i := 0; i < 100; i++ {
		client := a
		if i%2 == 1 {
			client = same
		}
		counts[r.limit(client, 0, now)]++
	}
	// The burst is one second at 10/s: about 10 sent, the other 90 limited,
	// every second one of those slipped as TC.
	if counts[rrlSend] < 10 || counts[rrlSend] > 12 || counts[rrlSlip] < 40 || counts[rrlDrop] < 40 {
		t.Fatalf("one prefix, 100 answers at once: %v", counts)
	}
	if r.limit(netip.MustParseAddr("203.0.113.9"), 0, now) != rrlSend {
		t.Fatal("another prefix was limited")
	}
	if r.limit(a, 1, now) != rrlSend {
		t.Fatal("another response class was limited")
	}
	if r.limit(a, 0, now+int64(time.Second)) != rrlSend {
		t.Fatal("still limited a second later")
	}
	for i := 0; i < 50; i++ {
		if r.check(netip.MustParseAddr("198.51.100.3"), 0) != rrlSend {
			t.Fatal("an allow-listed client was limited")
		}
		if r.check(netip.MustParseAddr("127.0.0.1"), 0) != rrlSend {
			t.Fatal("loopback was limited while exempt")
		}
	}
}

func TestRRLTableBounded(t *testing.T) {
	c := rrlConfig(10, 2)
	c.TableSize = 4
	evicted := 0
	r := newRRL(c, func() { evicted++ })
	for i := 0; i < 1000; i++ {
		r.limit(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 0, 0)
	}
	if len(r.entries) != 4 || evicted == 0 {
		t.Fatalf("table %d entries, %d evictions", len(r.entries), evicted)
	}
}

func TestRRLOnTheWire(t *testing.T) {
	yaml := strings.Replace(baseYAML, "rrl: {enabled: false}", "rrl: {rate: 5, slip: 2, exempt_loopback: false}", 1)
	s, addr := startYAML(t, yaml, nil)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := new(mdns.Msg)
	q.SetQuestion("www.example.com.", mdns.TypeA)
	b, _ := q.Pack()
	for i := 0; i < 60; i++ {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	full, tc := 0, 0
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		if buf[2]&0x02 != 0 {
			tc++
		} else if n > 12 {
			full++
		}
	}
	if full > 10 || tc == 0 || full+tc >= 60 {
		t.Fatalf("60 queries at rate 5: %d full answers, %d TC; want a few, some TC, some dropped", full, tc)
	}
	if r := askNet(t, "tcp", addr, "www.example.com.", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatal("TCP was limited")
	}
	if s.m == nil {
		t.Fatal("no metrics")
	}
}
