package h2server

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
)

// BenchmarkH2Hit1K is a cache hit's shape: one TLS connection on loopback,
// 10 concurrent streams, a 1 KiB answer. server=go is Go's x/net server,
// server=levee this package; compare with benchstat -col /server.
func BenchmarkH2Hit1K(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	benchH2(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
}

// BenchmarkH2Hit100KReader is a 100 KiB hit whose body is a reader, as the
// cache's memfd bodies are over TLS (io.Copy from a section of the file).
func BenchmarkH2Hit100KReader(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 100<<10)
	benchH2(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.Copy(w, io.NewSectionReader(bytes.NewReader(body), 0, int64(len(body))))
	}))
}

// benchH2 runs h behind Go's HTTP/2 server and levee's, 10 streams at a
// time on one TLS connection.
func benchH2(b *testing.B, h http.Handler) {
	for _, server := range []string{"go", "levee"} {
		b.Run("server="+server, func(b *testing.B) {
			ts := httptest.NewUnstartedServer(h)
			ts.EnableHTTP2 = true
			if server == "levee" {
				(&Server{}).Attach(ts.Config)
			}
			counted := &countingListener{Listener: ts.Listener}
			ts.Listener = counted
			ts.StartTLS()
			defer ts.Close()
			tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			fetch := func() error {
				res, err := c.Get(ts.URL + "/hit")
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return err
			}
			if err := fetch(); err != nil { // one connection, already up
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			counted.writes.Store(0)
			var n atomic.Int64
			var wg sync.WaitGroup
			for g := 0; g < 10; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n.Add(1) <= int64(b.N) {
						if err := fetch(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			// Socket writes per request: what batching the answers of
			// concurrent streams saves, free of the machine's noise.
			b.ReportMetric(float64(counted.writes.Load())/float64(b.N), "writes/op")
		})
	}
}

// countingListener counts the server's socket writes.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}
