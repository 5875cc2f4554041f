package listener_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// Certificates from files are loaded again when the files change, without
// a config reload; files that do not load keep the old certificate.
func TestCertificateFilesReload(t *testing.T) {
	a := leveetest.SelfSigned(t, "a.example")
	b := leveetest.SelfSigned(t, "a.example")
	dir := t.TempDir()
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	copyFile(t, a.CertFile, certFile)
	copyFile(t, a.KeyFile, keyFile)
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners:
  - listen: "127.0.0.1:0"
    tls: {certificates: [{cert: %q, key: %q}]}
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, certFile, keyFile, o.URL))
	serial := func() string {
		c, err := tls.Dial("tcp", n.Addr(""), &tls.Config{ServerName: "a.example", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	serialOf := func(c *leveetest.Cert) string { return c.TLS.Leaf.SerialNumber.String() }
	if got := serial(); got != serialOf(a) {
		t.Fatalf("serving %s, want the first certificate %s", got, serialOf(a))
	}
	// A broken key: the old certificate stays.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !waitLog(n, "do not load", serial, 3*time.Second) {
		t.Fatalf("no log line for the broken pair:\n%s", n.Logs.String())
	}
	if got := serial(); got != serialOf(a) {
		t.Fatalf("a broken key file replaced the certificate: serving %s", got)
	}
	copyFile(t, b.CertFile, certFile)
	copyFile(t, b.KeyFile, keyFile)
	if got := waitServing(t, serial, serialOf(b), 5*time.Second); got != serialOf(b) {
		t.Fatalf("still serving %s after the files changed, want %s", got, serialOf(b))
	}
}

// waitServing polls until serial() is want or the time is up, and returns
// the last serial seen.
func waitServing(t *testing.T, serial func() string, want string, limit time.Duration) string {
	end := time.Now().Add(limit)
	got := serial()
	for i := 0; i < 200 && got != want && time.Now().Before(end); i++ {
		time.Sleep(50 * time.Millisecond)
		got = serial()
	}
	return got
}

// waitLog handshakes (which is when files are looked at) until the log
// holds sub or the time is up.
func waitLog(n *leveetest.Node, sub string, handshake func() string, limit time.Duration) bool {
	end := time.Now().Add(limit)
	for i := 0; i < 200 && time.Now().Before(end); i++ {
		if n.Logs.Count(sub) > 0 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
		handshake()
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write to a temp name and rename: a reader never sees half a file.
	if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}
