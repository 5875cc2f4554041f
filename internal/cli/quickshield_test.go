package cli

import (
	"strings"
	"testing"

	"levee/internal/config"
)

func TestQuickShieldFlags(t *testing.T) {
	src, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}, rateLimit: "100/s", maxConnsIP: 64})
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load("quick", src)
	if err != nil {
		t.Fatalf("quick config does not load: %v\n%s", err, src)
	}
	s := p.Config.Shield
	if len(s.Rules) != 1 || s.Rules[0].Rate.PerSecond() != 100 || s.Rules[0].Burst != 200 || s.Rules[0].Key[0] != "ip" {
		t.Fatalf("rule = %+v", s.Rules)
	}
	if s.Tarpit.D() == 0 {
		t.Fatal("quick mode rate limit without a tarpit")
	}
	if s.Connections.MaxPerIP != 64 {
		t.Fatalf("max_per_ip = %d", s.Connections.MaxPerIP)
	}
	for _, bad := range []string{"100", "x/s", "-1/s", "5/d"} {
		if _, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}, rateLimit: bad}); err == nil || !strings.Contains(err.Error(), "--rate-limit") {
			t.Errorf("--rate-limit %q: err = %v", bad, err)
		}
	}
	if _, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}}); err != nil {
		t.Fatalf("no shield flags: %v", err)
	}
}

func TestQuickRateBurst(t *testing.T) {
	src, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}, rateLimit: "100/s", rateBurst: 20})
	if err != nil {
		t.Fatal(err)
	}
	p, err := config.Load("quick", src)
	if err != nil || p.Config.Shield.Rules[0].Burst != 20 {
		t.Fatalf("--rate-burst 20: %v %+v", err, p)
	}
	if _, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{"127.0.0.1:9"}, rateLimit: "100/s", rateBurst: -1}); err == nil {
		t.Fatal("negative --rate-burst accepted")
	}
}
