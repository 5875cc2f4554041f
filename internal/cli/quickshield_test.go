package cli

import (
	"io"
	"strings"
	"testing"

	"levee/internal/app"
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

// The start-up line lists everything the flags turned on, with the bound
// address and the admin API's.
func TestQuickModeStartLineListsWhatIsOn(t *testing.T) {
	q := &quickOptions{from: "127.0.0.1:0", admin: "127.0.0.1:0", to: []string{"127.0.0.1:9000"}, backup: []string{"127.0.0.1:9100"},
		healthURI: "/healthz", cache: true, rateLimit: "100/s", maxConnsIP: 8}
	src, err := quickConfig(q)
	if err != nil {
		t.Fatal(err)
	}
	n := app.New(app.Options{Log: io.Discard, Access: io.Discard})
	if err := n.StartFrom("reverse-proxy", src); err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	line := startLine(q, n)
	for _, want := range []string{"backup 127.0.0.1:9100", "health checks /healthz every 5s", "cache on", "rate limit 100/s per client IP",
		"at most 8 connections per client IP", "admin API on http://127.0.0.1:"} {
		if !strings.Contains(line, want) {
			t.Errorf("start-up line lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, "127.0.0.1:0 ") {
		t.Errorf("start-up line shows port 0: %s", line)
	}
}
