package h1server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes made on a connection (under TLS: one per
// record written, as crypto/tls writes each record on its own).
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"a.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		NextProtos: []string{"h2", "http/1.1"}}, pool
}

// On TLS, each request carries the connection's TLS state; a response head
// and a 1 KiB body leave in one TLS record, one write (the head is
// buffered with the body; crypto/tls writes each record on its own); h2
// connections go to Fallback handshaken, with the connection's context.
func TestTLSRequestsAndOneWritePerResponse(t *testing.T) {
	cfg, pool := selfSignedTLS(t)
	body := make([]byte, 1024)
	var sawTLS atomic.Value
	type key struct{}
	handedOff := make(chan net.Conn, 1)
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil {
				sawTLS.Store(r.TLS.NegotiatedProtocol)
			} else {
				sawTLS.Store("none")
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context { return context.WithValue(ctx, key{}, "conn") },
		Fallback: func(ctx context.Context, c net.Conn) {
			if _, ok := c.(*tls.Conn); ok && ctx.Value(key{}) == "conn" {
				handedOff <- c
				return
			}
			c.Close()
		},
		TLSConfig: cfg, HandOffProtos: []string{"h2"},
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.Serve(countingConn{Conn: c, writes: &writes})
		}
	}()
	t.Cleanup(func() { ln.Close(); srv.Close() })

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var perResponse []int64
	for range 4 {
		before := writes.Load()
		res := roundTrip(t, c, br, "GET /obj HTTP/1.1\r\nHost: a.example\r\n\r\n", "GET")
		if n, _ := io.Copy(io.Discard, res.Body); n != int64(len(body)) {
			t.Fatalf("body %d bytes", n)
		}
		perResponse = append(perResponse, writes.Load()-before)
	}
	if sawTLS.Load() != "http/1.1" {
		t.Fatalf("r.TLS: negotiated %v, want http/1.1", sawTLS.Load())
	}
	t.Logf("writes per response: %v", perResponse)
	for i, n := range perResponse {
		if n != 1 {
			t.Fatalf("response %d took %d writes, want 1 (all: %v)", i, n, perResponse)
		}
	}

	h2, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	select {
	case sc := <-handedOff:
		if st := sc.(*tls.Conn).ConnectionState(); !st.HandshakeComplete || st.NegotiatedProtocol != "h2" {
			t.Fatalf("handed off before the handshake completed: %+v", st)
		}
		sc.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("h2 connection not handed to Fallback with its context")
	}
}
