package dns

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDig drives the server with the real dig and kdig clients.
func TestDig(t *testing.T) {
	dig := needTool(t, "dig")
	_, addr := startYAML(t, steerYAML, newFakeHealth())
	host, port, _ := strings.Cut(addr, ":")
	run := func(tool string, args ...string) string {
		t.Helper()
		out, err := exec.Command(tool, append([]string{"@" + host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
		return string(out)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"www.example.com", "A", "+norec"}, []string{"status: NOERROR", "flags: qr aa;", "192.0.2.10"}},
		{[]string{"WWW.Example.COM", "A"}, []string{";WWW.Example.COM.", "192.0.2.10"}},
		{[]string{"nope.example.com", "A"}, []string{"status: NXDOMAIN", "IN\tSOA\tns1.example.com."}},
		{[]string{"www.example.com", "MX"}, []string{"status: NOERROR", "ANSWER: 0", "AUTHORITY: 1"}},
		{[]string{"www.example.org", "A"}, []string{"status: REFUSED"}},
		{[]string{"example.com", "ANY"}, []string{"HINFO\t\"RFC8482\""}},
		{[]string{"big.example.com", "TXT", "+noedns", "+ignore"}, []string{"flags: qr aa tc rd;"}},
		{[]string{"big.example.com", "TXT", "+noedns"}, []string{"ANSWER: 12"}},
		{[]string{"big.example.com", "TXT", "+tcp"}, []string{"ANSWER: 12"}},
		{[]string{"host.sub.example.com", "A"}, []string{"flags: qr rd;", "AUTHORITY: 1", "ADDITIONAL: 2", "ns.sub.example.com.\t300\tIN\tA\t192.0.2.77"}},
		{[]string{"x.wild.example.com", "TXT"}, []string{"x.wild.example.com.\t300\tIN\tTXT\t\"wild\""}},
		{[]string{"app.example.com", "A"}, []string{"app.example.com.\t5\tIN\tA\t192.0.2.101"}},
		{[]string{"geo.example.com", "A", "+subnet=10.9.9.0/24"}, []string{"CLIENT-SUBNET: 10.9.9.0/24/24", "203.0.113.7"}},
		{[]string{"www.example.com", "A", "+edns=1", "+noednsnegotiation"}, []string{"status: BADVERS"}},
	}
	for _, c := range cases {
		out := run(dig, c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Fatalf("dig %v: no %q in\n%s", c.args, w, out)
			}
		}
	}
	kdig := needTool(t, "kdig")
	out := run(kdig, "+tcp", "+keepopen", "www.example.com", "A", "www.example.com", "AAAA")
	if !strings.Contains(out, "192.0.2.10") || !strings.Contains(out, "2001:db8::10") {
		t.Fatalf("kdig over one TCP connection:\n%s", out)
	}
}

func TestKdigDNSSEC(t *testing.T) {
	kdig := needTool(t, "kdig")
	_, addr := startYAML(t, signedYAML(t.TempDir()), newFakeHealth())
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command(kdig, "@"+host, "-p", port, "+dnssec", "app.example.com", "A").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RRSIG\tA 13 3 5") || !strings.Contains(string(out), "Flags: qr aa rd; QUERY: 1") {
		t.Fatalf("kdig +dnssec: %v\n%s", err, out)
	}
}
