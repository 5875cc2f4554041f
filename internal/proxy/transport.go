package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"levee/internal/config"
)

// TransportStore keeps origin transports, and so their keep-alive
// connections, across config generations: a pool whose settings did not
// change gets the same transport back. It lives on the node, not in a
// generation.
type TransportStore struct {
	mu     sync.Mutex
	byKey  map[string]Transport
	counts *PoolCounters
}

// Transport is an origin transport that can drop its idle connections.
type Transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

// NewTransportStore returns an empty store.
func NewTransportStore() *TransportStore {
	return &TransportStore{byKey: map[string]Transport{}, counts: &PoolCounters{}}
}

// Counters returns the pool counters of every transport of the store.
func (s *TransportStore) Counters() *PoolCounters { return s.counts }

// Get returns the transport for spec, building it if no transport with the
// same settings exists. It fails if a TLS file cannot be read.
func (s *TransportStore) Get(spec *config.PoolSpec) (Transport, string, error) {
	key := transportKey(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.byKey[key]; ok {
		return t, key, nil
	}
	t, err := newTransport(spec, s.counts)
	if err != nil {
		return nil, "", err
	}
	s.byKey[key] = t
	return t, key, nil
}

// Sweep closes and forgets every transport whose key is not in keep.
func (s *TransportStore) Sweep(keep map[string]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, t := range s.byKey {
		if !keep[k] {
			t.CloseIdleConnections()
			delete(s.byKey, k)
			n++
		}
	}
	return n
}

// CloseIdle closes every idle origin connection (at shutdown).
func (s *TransportStore) CloseIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.byKey {
		t.CloseIdleConnections()
	}
}

func transportKey(p *config.PoolSpec) string {
	return fmt.Sprintf("%s|%d|%v|%v|%v|%v|%+v", p.Protocol, p.MaxIdlePerOrigin,
		p.Timeouts.Dial, p.Timeouts.TLS, p.Timeouts.ResponseHeader, p.Timeouts.Idle, p.OriginTLS)
}

// NewTransport builds an origin transport: for HTTP/1.1 pools the lean
// path (h1.go) in front of net/http, for h2 pools net/http alone.
// Its pool counters are its own; a TransportStore's transports share the
// store's.
func NewTransport(p *config.PoolSpec) (Transport, error) {
	return newTransport(p, &PoolCounters{})
}

func newTransport(p *config.PoolSpec, counts *PoolCounters) (Transport, error) {
	std, err := newStdTransport(p, counts)
	if err != nil {
		return nil, err
	}
	if p.Protocol == "h2" {
		return std, nil
	}
	fresh := std.Clone()
	fresh.DisableKeepAlives = true
	return &h1Transport{
		dialer:     &net.Dialer{Timeout: p.Timeouts.Dial.D(), KeepAlive: 30 * time.Second},
		tlsConfig:  std.TLSClientConfig,
		tlsTimeout: p.Timeouts.TLS.D(),
		headerWait: p.Timeouts.ResponseHeader.D(),
		idleFor:    idleTimeout(p),
		peekAfter:  defaultPeekAfter,
		maxIdle:    p.MaxIdlePerOrigin,
		fallback:   std,
		fresh:      fresh,
		counts:     counts,
		idle:       map[originKey][]*h1conn{},
	}, nil
}

// newStdTransport builds a net/http transport sized for a busy edge: many
// idle connections per origin (net/http keeps 2 by default), no proxy from
// the environment, no transparent decompression.
func newStdTransport(p *config.PoolSpec, counts *PoolCounters) (*http.Transport, error) {
	tlsConf, err := originTLS(&p.OriginTLS)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: p.Timeouts.Dial.D(), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				counts.Dials.Add(1)
			}
			return c, err
		},
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    p.Timeouts.TLS.D(),
		ResponseHeaderTimeout:  p.Timeouts.ResponseHeader.D(),
		ExpectContinueTimeout:  1 * time.Second,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    p.MaxIdlePerOrigin,
		IdleConnTimeout:        idleTimeout(p),
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
	if p.Protocol == "h2" {
		var protos http.Protocols
		protos.SetHTTP2(true)
		protos.SetUnencryptedHTTP2(true)
		t.Protocols = &protos
		t.ForceAttemptHTTP2 = true
	}
	return t, nil
}

// idleTimeout is the pool's timeouts.idle, or the default for a spec that
// did not go through the config's defaults.
func idleTimeout(p *config.PoolSpec) time.Duration {
	if d := p.Timeouts.Idle.D(); d > 0 {
		return d
	}
	return config.DefaultOriginIdle
}

func originTLS(c *config.OriginTLS) (*tls.Config, error) {
	conf := &tls.Config{
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
		MinVersion:         tls.VersionTLS12,
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("origin_tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("origin_tls.ca_file %s: no PEM certificates in it", c.CAFile)
		}
		conf.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("origin_tls client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
