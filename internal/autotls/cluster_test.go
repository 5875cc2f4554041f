package autotls_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
)

var obtained = regexp.MustCompile(`levee_autotls_events_total\{event="obtained"\} (\d+)`)

func obtainedOn(t *testing.T, n *leveetest.Node) int {
	_, m, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	if s := obtained.FindStringSubmatch(m); s != nil {
		k, _ := strconv.Atoi(s[1])
		return k
	}
	return 0
}

// serialAt fetches name over HTTPS from ip and returns the certificate's
// serial.
func serialAt(t *testing.T, s setup, ip string, port int, name string) string {
	t.Helper()
	roots := s.pb.IssuerRoots(t)
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, ip+":"+strconv.Itoa(port))
		}}}
	// A first handshake may fail while the other node holds the lock
	// (seen once on a loaded machine); a browser retries, so does this.
	var res *http.Response
	var err error
	for try := 0; try < 10; try++ {
		if res, err = c.Get("https://" + name + "/"); err == nil {
			break
		}
		t.Logf("%s at %s, try %d: %v", name, ip, try+1, err)
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s at %s: %v", name, ip, err)
	}
	res.Body.Close()
	return res.TLS.PeerCertificates[0].SerialNumber.String()
}

// Two nodes in a cluster share certificates through the store: one
// issuance per name, both serve the same certificate. Pebble validates on
// 127.0.0.1 (node 1); node 2 listens on 127.0.0.2 and, if it wins the
// lock, node 1 answers its HTTP-01 challenge from the shared storage.
func TestClusterSharesCertificates(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := leveetest.NewOrigin(t, leveetest.Text("hello over tls"))
	httpPort, httpsPort, dnsPort := leveetest.FreePort(t), leveetest.FreePort(t), leveetest.FreePort(t)
	pb := leveetest.StartPebble(t, "127.0.0.1:"+strconv.Itoa(dnsPort), httpPort, httpsPort)
	cl := func(name string) string {
		return fmt.Sprintf("cluster: {redis: %q, node: %s, heartbeat: 100ms, member_ttl: 600ms}", r.URL(), name)
	}
	n1 := leveetest.Start(t, nodeYAML(o.URL, httpPort, httpsPort, dnsPort, pb, "http-01", cl("n1")))
	y2 := nodeYAML(o.URL, httpPort, httpsPort, leveetest.FreePort(t), pb, "http-01", cl("n2"))
	for _, p := range []int{httpPort, httpsPort} {
		y2 = strings.ReplaceAll(y2, fmt.Sprintf(`listen: "127.0.0.1:%d"`, p), fmt.Sprintf(`listen: "127.0.0.2:%d"`, p))
	}
	n2 := leveetest.Start(t, y2)
	s := setup{node: n1, pb: pb, httpPort: httpPort, httpsPort: httpsPort}
	for _, name := range []string{"a.levee.test", "b.levee.test"} {
		s1 := serialAt(t, s, "127.0.0.1", httpsPort, name)
		s2 := serialAt(t, s, "127.0.0.2", httpsPort, name)
		if s1 != s2 {
			t.Fatalf("%s: node 1 serves serial %s, node 2 %s", name, s1, s2)
		}
	}
	if got := obtainedOn(t, n1) + obtainedOn(t, n2); got != 2 {
		t.Fatalf("%d issuances for 2 names across the two nodes\nn1:\n%s\nn2:\n%s", got, n1.Logs.String(), n2.Logs.String())
	}
	if got := r.Do("HLEN", "{levee}:certs"); got == ":0" {
		t.Fatal("the certificates are not in the store")
	}
}
