package leveetest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NeedTool returns the path of an outside program. It skips the test when
// the program is missing, unless the environment demands integration
// tests (LEVEE_REQUIRE_INTEGRATION=1): then it fails.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if strings.TrimSpace(os.Getenv("LEVEE_REQUIRE_INTEGRATION")) == "1" {
		t.Fatalf("%s is required (LEVEE_REQUIRE_INTEGRATION=1)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

// Pebble is a Pebble ACME test CA running as its own process on loopback.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// RootFile is the PEM of the CA's own HTTPS certificate (for
	// --acme-ca-root).
	RootFile string
	mgmt     string
	tlsPool  *x509.CertPool
}

// StartPebble runs pebble with its validation authority resolving names
// through dnsAddr and validating HTTP-01 on httpPort and TLS-ALPN-01 on
// tlsPort. It is stopped when the test ends.
func StartPebble(t testing.TB, dnsAddr string, httpPort, tlsPort int) *Pebble {
	t.Helper()
	bin := NeedTool(t, "pebble")
	own := SelfSigned(t, "127.0.0.1", "localhost")
	listen := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	mgmt := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": own.CertFile, "privateKey": own.KeyFile,
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "",
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", path, "-dnsserver", dnsAddr)
	// No random sleeps in validation, no nonce rejections: the test is
	// about levee, not about retry paths of the ACME client.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	p := &Pebble{Directory: "https://" + listen + "/dir", RootFile: own.CertFile, mgmt: mgmt, tlsPool: own.Pool}
	for i := 0; i < 100; i++ {
		if c, err := net.DialTimeout("tcp", listen, 100*time.Millisecond); err == nil {
			c.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pebble did not start:\n%s", out.String())
	return nil
}

// IssuerRoots returns the roots Pebble signs with (they change at every
// start of Pebble).
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.tlsPool}}}
	res, err := c.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: no PEM in %q", b)
	}
	return pool
}
