package dns

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
	"levee/internal/telemetry"
)

// secondary is a fake secondary that counts the NOTIFYs it gets.
type secondary struct {
	addr     string
	notifies atomic.Int32
}

func startSecondary(t *testing.T) *secondary {
	sec := &secondary{}
	started := make(chan struct{})
	srv := &mdns.Server{Addr: "127.0.0.1:0", Net: "udp", NotifyStartedFunc: func() { close(started) },
		Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
			if r.Opcode == mdns.OpcodeNotify {
				sec.notifies.Add(1)
			}
			m := new(mdns.Msg)
			m.SetReply(r)
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ListenAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	sec.addr = srv.PacketConn.LocalAddr().String()
	return sec
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func transferYAML(secAddr, serial string) string {
	return baseYAML + fmt.Sprintf(`      secondaries: ["%s"]
      steer: [{name: app, pool: web}]
    - origin: other.test.
      records:
        - "@ 3600 IN SOA ns1 hostmaster %s 7200 3600 1209600 300"
        - "@ 3600 IN NS ns1"
        - "ns1 IN A 192.0.2.53"
`, secAddr, serial)
}

func TestAXFRAndNotify(t *testing.T) {
	sec := startSecondary(t)
	s, addr := startYAML(t, transferYAML(sec.addr, "1"), nil)
	waitFor(t, "the first NOTIFY", func() bool { return sec.notifies.Load() == 1 })

	m := new(mdns.Msg)
	m.SetAxfr("example.com.")
	env, err := (&mdns.Transfer{}).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []mdns.RR
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		rrs = append(rrs, e.RR...)
	}
	if len(rrs) < 3 || rrs[0].Header().Rrtype != mdns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != mdns.TypeSOA {
		t.Fatalf("AXFR: %d records, want SOA first and last", len(rrs))
	}
	for _, rr := range rrs {
		if strings.HasPrefix(rr.Header().Name, "app.") {
			t.Fatal("a steered name was transferred")
		}
	}
	if got, want := len(rrs), s.view.Load().zones.byName["example.com."].Records+1; got != want {
		t.Fatalf("AXFR: %d records, want %d", got, want)
	}

	if _, err := exec.LookPath("dig"); err == nil {
		host, port, _ := strings.Cut(addr, ":")
		out, err := exec.Command("dig", "@"+host, "-p", port, "example.com.", "AXFR").CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("XFR size: %d records", len(rrs))) {
			t.Fatalf("dig AXFR: %v\n%s", err, out)
		}
	}

	m.SetAxfr("other.test.")
	env, err = (&mdns.Transfer{}).In(m, addr)
	if err == nil {
		e := <-env
		err = e.Error
	}
	if err == nil {
		t.Fatal("AXFR of a zone without this secondary was not refused")
	}

	// Reloading the same zones sends nothing; a changed zone is notified.
	c := loadConfig(t, transferYAML(sec.addr, "1"))
	zs, _ := Build(c)
	s.Apply(c, zs)
	c = loadConfig(t, strings.Replace(transferYAML(sec.addr, "1"), "www          IN A", "www IN A", 1))
	c.DNS.Zones[0].Records = []string{"extra IN A 192.0.2.200"}
	zs, err = Build(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(c, zs)
	waitFor(t, "a NOTIFY for the changed zone", func() bool { return sec.notifies.Load() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := sec.notifies.Load(); n != 2 {
		t.Fatalf("%d NOTIFYs, want 2 (first load, change)", n)
	}
	if r := ask(t, addr, "extra.example.com.", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("the changed zone is not served: %v", r)
	}
}

// panickyWriter panics when a transfer writes to it.
type panickyWriter struct{ mdns.ResponseWriter }

func (panickyWriter) WriteMsg(*mdns.Msg) error { panic("writer broke") }

// A panic in the goroutine that writes a zone transfer is recovered by
// the wall and counted, and the transfer ends as an error instead of
// waiting forever for it.
func TestAXFRWriterPanicContained(t *testing.T) {
	sec := startSecondary(t)
	wall := guard.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	c := loadConfig(t, transferYAML(sec.addr, "1"))
	zs, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Wall: wall})
	s.Apply(c, zs)
	t.Cleanup(s.Stop)

	m := new(mdns.Msg)
	m.SetAxfr("example.com.")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.transfer(panickyWriter{}, m, netip.MustParseAddr("127.0.0.1"))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("transfer still waiting for a writer that panicked")
	}
	waitFor(t, "the panic to be counted", func() bool { return wall.Count("goroutine:dns-axfr-out") == 1 })
	if v := telemetry.Value(s.m.axfr.WithLabelValues("error")); v != 1 {
		t.Fatalf("axfr errors %v, want 1", v)
	}
}
