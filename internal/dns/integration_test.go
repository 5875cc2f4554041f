package dns_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"levee/internal/cli"
	"levee/internal/leveetest"
)

const zoneV1 = `$ORIGIN example.com.
@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ 3600 IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.10
`

func nodeYAML(zoneFile, extra string) string {
	return fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
admin: {listen: "127.0.0.1:0"}
pools:
  - name: web
    origins: [{url: "http://127.0.0.1:1"}, {url: "http://127.0.0.2:1"}]
sites: [{name: s, hosts: ["*"], routes: [{pools: [web]}]}]
dns:
  listen: ["127.0.0.1:0"]
%s  zones:
    - origin: example.com.
      file: %s
      steer: [{name: app, pool: web, policy: failover}]
`, extra, zoneFile)
}

func query(t *testing.T, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&mdns.Client{Timeout: 3 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dnsAddr(t *testing.T, n *leveetest.Node) string {
	for _, a := range n.DNSAddrs() {
		return a.String()
	}
	t.Fatal("no DNS address")
	return ""
}

// TestNodeServesZonesAndKeepsThemOnBadReload: a node started from config
// answers from its zone and steered names; a malformed zone file or one over
// the bound is rejected by reload and by `levee validate`, and the old zone
// keeps answering; a good change is swapped in.
func TestNodeServesZonesAndKeepsThemOnBadReload(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.com.zone")
	os.WriteFile(zf, []byte(zoneV1), 0o600)
	n := leveetest.Start(t, nodeYAML(zf, ""))
	addr := dnsAddr(t, n)
	if r := query(t, addr, "www.example.com.", mdns.TypeA); len(r.Answer) != 1 || !r.Authoritative {
		t.Fatalf("www: %v", r)
	}
	if r := query(t, addr, "app.example.com.", mdns.TypeA); len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), "127.0.0.1") {
		t.Fatalf("steered app: %v", r)
	}

	_, metrics, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	for _, want := range []string{`levee_dns_queries_total{qtype="A",rcode="NOERROR"} 2`, "levee_dns_response_bytes_count 2",
		`levee_dns_steered_answers_total{state="primary"} 1`, "levee_dns_zones 1"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("no %q in /metrics", want)
		}
	}

	validate := func(yaml string) (int, string) {
		p := filepath.Join(dir, "check.yaml")
		os.WriteFile(p, []byte(yaml), 0o600)
		var out, errb bytes.Buffer
		code := cli.Main([]string{"validate", "-c", p}, &out, &errb)
		return code, errb.String()
	}

	// Malformed zone file: reload rejected, old answers stay.
	os.WriteFile(zf, []byte(zoneV1+"www IN A not-an-ip\n"), 0o600)
	if err := n.ReloadFile("test"); err == nil {
		t.Fatal("a malformed zone was accepted")
	}
	if code, msg := validate(nodeYAML(zf, "")); code != cli.ExitUsage || !strings.Contains(msg, "example.com.zone") {
		t.Fatalf("validate malformed zone: exit %d\n%s", code, msg)
	}
	if r := query(t, addr, "www.example.com.", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("old zone gone after a rejected reload: %v", r)
	}

	// Over the bound: rejected the same way.
	os.WriteFile(zf, []byte(zoneV1+"extra IN A 192.0.2.11\n"), 0o600)
	over := nodeYAML(zf, "  max_records_per_zone: 4\n")
	if code, body := n.PostConfig(over); code < 400 || !strings.Contains(body, "over the bound") {
		t.Fatalf("over-bound zone by POST /config: %d %s", code, body)
	}
	if code, msg := validate(over); code != cli.ExitUsage || !strings.Contains(msg, "more than 4 records") {
		t.Fatalf("validate over-bound zone: exit %d\n%s", code, msg)
	}
	if r := query(t, addr, "extra.example.com.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Fatalf("a rejected zone's record is served: %v", r)
	}

	// A good change is swapped in.
	if code, msg := validate(nodeYAML(zf, "")); code != cli.ExitOK {
		t.Fatalf("validate good zone: exit %d\n%s", code, msg)
	}
	if err := n.ReloadFile("test"); err != nil {
		t.Fatal(err)
	}
	if r := query(t, addr, "extra.example.com.", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("reloaded zone not served: %v", r)
	}
	if n.Reloads("rejected") < 2 {
		t.Fatalf("rejections counted: %v", n.Reloads("rejected"))
	}
}

// TestQuickModeCommand runs `levee dns --zone --listen` as the benchmark
// does and stops it with SIGTERM.
func TestQuickModeDS(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := cli.Main([]string{"dns", "ds", "--zone", "example.com.", "--key", filepath.Join(dir, "K")}, &out, &errb)
	if code != 0 || !strings.HasPrefix(out.String(), "example.com.\t") || !strings.Contains(out.String(), "DS\t") {
		t.Fatalf("dns ds: exit %d\n%s%s", code, out.String(), errb.String())
	}
	code = cli.Main([]string{"dns", "--zone", filepath.Join(dir, "missing.zone")}, &out, &errb)
	if code != cli.ExitUsage {
		t.Fatalf("dns with a missing zone file: exit %d", code)
	}
}

func TestQuickModeServesUntilSIGTERM(t *testing.T) {
	// The port is picked free and then released, so another test may take
	// it (UDP or TCP) before quick mode binds it: then quick mode exits at
	// once, and the test tries again on another port.
	var (
		addr string
		done chan int
		errb *leveetest.SyncBuffer
		r    *mdns.Msg
	)
	for try := 0; try < 5 && r == nil; try++ {
		addr, done, errb = startQuickDNS(t)
		r = firstAnswer(addr, done)
	}
	if r == nil || len(r.Answer) != 1 {
		t.Fatalf("quick mode did not answer: %v\n%s", r, errb.String())
	}
	if r := queryNet(t, "tcp", addr, "www.example.test.", mdns.TypeA); len(r.Answer) != 2 {
		t.Fatalf("quick mode over TCP: %v", r)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("quick mode did not stop on SIGTERM")
	}
}

// startQuickDNS runs `levee dns` on a free loopback port.
func startQuickDNS(t *testing.T) (string, chan int, *leveetest.SyncBuffer) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	done := make(chan int, 1)
	var out, errb leveetest.SyncBuffer
	go func() {
		done <- cli.Main([]string{"dns", "--zone", "testdata/example.test.zone", "--listen", addr}, &out, &errb)
	}()
	return addr, done, &errb
}

// firstAnswer waits up to about 12 s for quick mode to answer, and gives
// up at once if it exited (its port was taken).
func firstAnswer(addr string, done chan int) *mdns.Msg {
	for i := 0; i < 100; i++ {
		select {
		case code := <-done:
			done <- code
			return nil
		default:
		}
		m := new(mdns.Msg)
		m.SetQuestion("h1.example.test.", mdns.TypeA)
		if r, _, err := (&mdns.Client{Timeout: 100 * time.Millisecond}).Exchange(m, addr); err == nil {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func queryNet(t *testing.T, network, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&mdns.Client{Net: network, Timeout: 3 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNodeSteersByRealHealth takes a pool's primary origin down for real
// and expects the answers to move to the backup pool within the health
// checker's interval, then come back, no sooner than the damping allows.
// Health comes from the node's own active checks through
// app.Node.HealthState, as the proxy's does.
func TestNodeSteersByRealHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 not usable: %v", err)
	}
	primary := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	defer srv.Close()
	backup := leveetest.NewOrigin(t, leveetest.Text("backup"))
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.com.zone")
	os.WriteFile(zf, []byte(zoneV1), 0o600)
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
pools:
  - {name: web, origins: [{url: %q}], health: {active: {interval: 100ms, timeout: 90ms, rise: 1, fall: 1}, damping: 1s}}
  - {name: backup, origins: [{url: %q}], health: {active: {interval: 100ms, timeout: 90ms, rise: 1, fall: 1}, damping: 1s}}
sites: [{name: s, hosts: ["*"], routes: [{pools: [web, backup]}]}]
dns:
  listen: ["127.0.0.1:0"]
  health_poll: 50ms
  restore_after: 200ms
  zones:
    - origin: example.com.
      file: %s
      steer: [{name: app, pool: web, fallback_pool: backup}]
`, primary, backup.URL, zf))
	addr := dnsAddr(t, n)
	answer := func() string {
		r := query(t, addr, "app.example.com.", mdns.TypeA)
		if len(r.Answer) != 1 {
			t.Fatalf("steered answer: %v", r)
		}
		return r.Answer[0].(*mdns.A).A.String()
	}
	if got := answer(); got != "127.0.0.2" {
		t.Fatalf("healthy primary: %s", got)
	}
	// A real checker reports the healthy primary as known soon after boot.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if _, known := n.HealthState("web", primary); known {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the health checker reports nothing of the primary after 5s")
		}
	}
	srv.Close()
	waitAnswer := func(want, step string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for got := answer(); got != want; got = answer() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still answering %s, want %s", step, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAnswer("127.0.0.1", "primary down")
	ln, err = net.Listen("tcp", strings.TrimPrefix(primary, "http://"))
	if err != nil {
		t.Fatalf("cannot bring the primary back: %v", err)
	}
	srv = &http.Server{Handler: srv.Handler}
	back := time.Now()
	go srv.Serve(ln)
	defer srv.Close()
	waitAnswer("127.0.0.2", "primary back")
	if d := time.Since(back); d < 200*time.Millisecond {
		t.Fatalf("primary back in answers after %v, before restore_after (200ms)", d)
	}
}
