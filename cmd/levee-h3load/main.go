// Command levee-h3load is a small closed-loop load client for comparing
// HTTP/3 with HTTP/2 over TLS on the same URL: N concurrent workers each
// send one request at a time for a fixed duration, over one connection
// (HTTP/2 and HTTP/3 multiplex the workers' requests on it) or one
// connection per worker (-conns). It prints one line per protocol:
// requests/s, body MB/s, errors, and latency percentiles.
//
//	levee-h3load -url https://a.test:8443/obj/100k -connect 127.0.0.1:8443 \
//	    -insecure -proto h2,h3 -c 50 -d 10s
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

type options struct {
	url, connect, caFile string
	protos               []string
	workers, conns       int
	duration             time.Duration
	insecure             bool
	headers              http.Header
}

// maxDuration bounds a run: this is a benchmark, not a soak.
const maxDuration = 5 * time.Minute

func main() {
	var o options
	var protos, headers string
	flag.StringVar(&o.url, "url", "", "URL to request (https://...)")
	flag.StringVar(&o.connect, "connect", "", "host:port to dial instead of the URL's (like curl --connect-to)")
	flag.StringVar(&o.caFile, "ca", "", "PEM file of roots to trust (default: the system's)")
	flag.BoolVar(&o.insecure, "insecure", false, "do not verify the server's certificate")
	flag.StringVar(&protos, "proto", "h2,h3", "protocols to run, in order: h2, h3")
	flag.IntVar(&o.workers, "c", 50, "concurrent requests (workers)")
	flag.IntVar(&o.conns, "conns", 1, "connections the workers share (round robin)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "measured duration per protocol")
	flag.StringVar(&headers, "H", "", "request headers, 'Name: value' separated by '|'")
	flag.Parse()
	o.protos = strings.Split(protos, ",")
	o.headers = http.Header{}
	for h := range strings.SplitSeq(headers, "|") {
		if k, v, ok := strings.Cut(h, ":"); ok {
			o.headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "levee-h3load:", err)
		os.Exit(2)
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "levee-h3load:", err)
		os.Exit(2)
	}
	for _, p := range o.protos {
		r := run(o, p, tlsConf)
		fmt.Println(r)
	}
}

func (o *options) check() error {
	switch {
	case !strings.HasPrefix(o.url, "https://"):
		return errors.New("-url must be an https:// URL (HTTP/2 and HTTP/3 both run over TLS here)")
	case o.workers < 1 || o.workers > 10000:
		return errors.New("-c must be 1 to 10000")
	case o.conns < 1 || o.conns > o.workers:
		return errors.New("-conns must be 1 to -c")
	case o.duration <= 0 || o.duration > maxDuration:
		return fmt.Errorf("-d must be above 0 and at most %s", maxDuration)
	}
	for _, p := range o.protos {
		if p != "h2" && p != "h3" {
			return fmt.Errorf("unknown protocol %q; want h2 or h3", p)
		}
	}
	return nil
}

func (o *options) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: o.insecure} //nolint:gosec // opt-in, for test certificates
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", o.caFile)
		}
	}
	return c, nil
}

// client returns an HTTP client of protocol p that dials o.connect if set.
func (o *options) client(p string, tlsConf *tls.Config) (*http.Client, func()) {
	redirect := func(addr string) string {
		if o.connect != "" {
			return o.connect
		}
		return addr
	}
	if p == "h3" {
		tr := &http3.Transport{TLSClientConfig: tlsConf.Clone(),
			Dial: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				return quic.DialAddrEarly(ctx, redirect(addr), tc, qc)
			}}
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}, func() { _ = tr.Close() }
	}
	tr := &http.Transport{TLSClientConfig: tlsConf.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: o.workers,
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, redirect(addr))
		}}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr.CloseIdleConnections
}

type result struct {
	proto       string
	n, errs     int64
	bytes       int64
	elapsed     time.Duration
	p50, p99    time.Duration
	firstErr    string
	wrongProtos int64
}

func (r result) String() string {
	s := fmt.Sprintf("%s  req/s %.0f  MB/s %.1f  requests %d  errors %d  p50 %s  p99 %s",
		r.proto, float64(r.n)/r.elapsed.Seconds(), float64(r.bytes)/r.elapsed.Seconds()/1e6, r.n, r.errs,
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	if r.wrongProtos > 0 {
		s += fmt.Sprintf("  NOT %s: %d responses", r.proto, r.wrongProtos)
	}
	if r.firstErr != "" {
		s += "  first error: " + r.firstErr
	}
	return s
}

// run loads the URL with protocol p for o.duration after a short warm-up.
func run(o options, p string, tlsConf *tls.Config) result {
	clients := make([]*http.Client, o.conns)
	for i := range clients {
		c, closeFn := o.client(p, tlsConf)
		defer closeFn()
		clients[i] = c
	}
	wantMajor := map[string]int{"h2": 2, "h3": 3}[p]
	var (
		stop                atomic.Bool
		n, errs, bytes, bad atomic.Int64
		mu                  sync.Mutex
		lat                 []time.Duration
		firstErr            string
		measuring           atomic.Bool
	)
	var wg sync.WaitGroup
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%len(clients)]
			mine := make([]time.Duration, 0, 1024)
			for !stop.Load() {
				t0 := time.Now()
				size, major, err := get(c, o.url, o.headers)
				d := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err.Error()
						mu.Unlock()
					}
					continue
				}
				if major != wantMajor {
					bad.Add(1)
				}
				n.Add(1)
				bytes.Add(size)
				if len(mine) < 1<<20 {
					mine = append(mine, d)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	time.Sleep(min(2*time.Second, o.duration/5)) // warm-up: connections, handshakes
	measuring.Store(true)
	start := time.Now()
	time.Sleep(o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	r := result{proto: p, n: n.Load(), errs: errs.Load(), bytes: bytes.Load(), elapsed: elapsed, firstErr: firstErr,
		wrongProtos: bad.Load()}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

func get(c *http.Client, url string, h http.Header) (int64, int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header = h.Clone()
	res, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	size, err := io.Copy(io.Discard, res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	return size, res.ProtoMajor, err
}
