package bots_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"levee/internal/bots"
	"levee/internal/leveetest"
)

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cp, kp := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cp, kp
}

// clientJA4 is the JA4 of the Go client config's ClientHello, seen by a
// bare TLS listener.
func clientJA4(t *testing.T, cfg *tls.Config, cert tls.Certificate) string {
	got := make(chan string, 1)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { got <- bots.JA4(h); return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err == nil {
		c.Close()
	}
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no ClientHello seen")
	}
	return ""
}

// TestJA4ReachesTheScore: on a TLS listener the ClientHello's JA4 is
// computed at the handshake and scored for every request on the
// connection, HTTP/2 included.
func TestJA4ReachesTheScore(t *testing.T) {
	dir := t.TempDir()
	cp, kp := writeSelfSigned(t, dir)
	cert, err := tls.LoadX509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	clientCfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}, ServerName: "localhost"}
	ja4 := clientJA4(t, clientCfg.Clone(), cert)
	feats := filepath.Join(dir, "f.csv")
	os.WriteFile(feats, []byte("#levee-bot-features schema=1\nname,signal,value,weight\nthis-client,ja4,"+ja4+",30\nplain,plaintext,,-30\n#end 2\n"), 0o644)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get(bots.DefaultScoreHeader))
	}))
	defer origin.Close()
	n := leveetest.Start(t, fmt.Sprintf(`listeners:
  - listen: 127.0.0.1:0
    tls: {certificates: [{cert: %s, key: %s}]}
bots: {features: %s}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        bots: {}
`, cp, kp, feats, origin.URL))
	tr := &http.Transport{TLSClientConfig: clientCfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for i := 0; i < 2; i++ { // the second request reuses the connection
		res, err := c.Get("https://" + n.Addr("") + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "80" || res.ProtoMajor != 2 {
			t.Fatalf("request %d over %s: score %q, want 80 (50 + 30 for JA4 %s)", i, res.Proto, b, ja4)
		}
	}
}
