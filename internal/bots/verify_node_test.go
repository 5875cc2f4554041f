package bots_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"levee/internal/leveetest"
)

// The resolver's zones: 66.249.66.1 is a crawler whose PTR name
// forward-confirms; .7 has a PTR under googlebot.com whose A record is
// elsewhere (spoofed PTR); .9 has a PTR under a look-alike domain.
const reverseZone = `$ORIGIN 66.249.66.in-addr.arpa.
@ 3600 IN SOA ns1.googlebot.com. hostmaster.googlebot.com. 1 7200 3600 1209600 300
@ 3600 IN NS ns1.googlebot.com.
1 IN PTR crawl-66-249-66-1.googlebot.com.
7 IN PTR crawl-66-249-66-7.googlebot.com.
9 IN PTR googlebot.com.evil.example.
`

const forwardZone = `$ORIGIN googlebot.com.
@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ 3600 IN NS ns1
ns1 IN A 192.0.2.53
crawl-66-249-66-1 IN A 66.249.66.1
crawl-66-249-66-7 IN A 192.0.2.99
`

// startResolver starts a levee node whose DNS server serves the crawler
// zones on loopback, and returns its address.
func startResolver(t *testing.T) string {
	dir := t.TempDir()
	rev, fwd := filepath.Join(dir, "rev.zone"), filepath.Join(dir, "fwd.zone")
	for f, z := range map[string]string{rev: reverseZone, fwd: forwardZone} {
		if err := os.WriteFile(f, []byte(z), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := leveetest.Start(t, fmt.Sprintf(`listeners: [{listen: "127.0.0.1:0"}]
pools: [{name: web, origins: [{url: "http://127.0.0.1:1"}]}]
sites: [{name: s, hosts: ["*"], routes: [{pools: [web]}]}]
dns:
  listen: ["127.0.0.1:0"]
  rrl: {enabled: false}
  zones:
    - {origin: 66.249.66.in-addr.arpa., file: %s}
    - {origin: googlebot.com., file: %s}
`, rev, fwd))
	for _, a := range n.DNSAddrs() {
		return a.String()
	}
	t.Fatal("the resolver node has no DNS address")
	return ""
}

func verifyNode(t *testing.T, resolver, extra string) (*leveetest.Node, func(client string) int) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(origin.Close)
	n := leveetest.Start(t, fmt.Sprintf(`trusted_proxies: [127.0.0.1]
listeners:
  - listen: 127.0.0.1:0
bots:
  verified: {resolver: %q%s}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        bots: {block_below: 50}
`, resolver, extra, origin.URL))
	get := func(client string) int {
		req, _ := http.NewRequest("GET", n.URL("/page"), nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
		req.Header.Set("X-Forwarded-For", client)
		res, err := leveetest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	return n, get
}

func verifyCount(t *testing.T, n *leveetest.Node, result string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "levee_bots_verify_total" {
			continue
		}
		for _, m := range mf.Metric {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A Googlebot User-Agent from an address whose PTR forward-confirms is
// let through as a verified crawler once its lookup is done (scored, so
// blocked, while it runs); the same User-Agent from a spoofed PTR or a
// look-alike domain stays scored and blocked. The verdict cache holds at
// most max_entries and counts its evictions.
func TestVerifiedCrawlerByForwardConfirmedReverseDNS(t *testing.T) {
	n, get := verifyNode(t, startResolver(t), ", max_entries: 2")
	if got := get("66.249.66.1"); got != http.StatusForbidden {
		t.Fatalf("a claim not verified yet got %d, want it scored (403 on this route)", got)
	}
	waitFor(t, "the crawler verified", func() bool { return get("66.249.66.1") == http.StatusOK })
	if !strings.Contains(n.Access.String(), "verified:googlebot") {
		t.Errorf("the access log does not name the verified crawler:\n%s", n.Access.String())
	}
	for _, spoof := range []string{"66.249.66.7", "66.249.66.9"} {
		get(spoof)
	}
	waitFor(t, "both spoofs looked up", func() bool { return verifyCount(t, n, "spoofed") == 2 })
	for _, spoof := range []string{"66.249.66.7", "66.249.66.9"} {
		if got := get(spoof); got != http.StatusForbidden {
			t.Errorf("spoofed crawler %s got %d, want 403", spoof, got)
		}
	}
	if v := verifyCount(t, n, "verified"); v != 1 {
		t.Errorf("levee_bots_verify_total{verified} = %v, want 1", v)
	}
	if ev := metric(t, n, "levee_bots_verify_cache_evictions_total"); ev != 1 {
		t.Errorf("evictions = %v, want 1 (3 verdicts, max_entries 2)", ev)
	}
}

// A resolver that never answers: the claimant's request is answered
// (scored) while its lookup is still in flight, and the lookup ends as a
// counted error at its timeout.
func TestVerifyNeverHoldsTheRequest(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var queries atomic.Int32
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			queries.Add(1)
		}
	}()
	n, get := verifyNode(t, pc.LocalAddr().String(), ", timeout: 1s")
	if got := get("66.249.66.1"); got != http.StatusForbidden {
		t.Fatalf("got %d, want the claim scored (403)", got)
	}
	if verifyCount(t, n, "error") != 0 {
		t.Fatal("the lookup ended before the request was answered: the request waited on DNS")
	}
	waitFor(t, "the lookup timed out", func() bool { return verifyCount(t, n, "error") == 1 })
	if queries.Load() == 0 {
		t.Error("the resolver was never asked")
	}
	if got := get("66.249.66.1"); got != http.StatusForbidden {
		t.Errorf("after a resolver error got %d, want 403", got)
	}
}
