package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// errOpen is returned without touching the network while the breaker is
// open: a store that keeps failing is not asked again until the cooldown
// has passed, so a hung store costs callers nothing.
var errOpen = errors.New("cluster: store unavailable (breaker open)")

// store is the client to Redis/Valkey with a tight timeout on every call
// and a breaker in front of it. Nothing on the request path calls it: only
// the capability's background loops do.
type store struct {
	rdb     redis.UniversalClient
	timeout time.Duration
	br      breaker
}

// clientOptions turns the section into client options: no retries, short
// dial/read/write timeouts and a small pool, so a hung server bounds each
// call at the configured timeout instead of the client's 5s defaults.
func clientOptions(c *Config) (address, *redis.Options, error) {
	a, bad := parseAddress(c)
	for k, msgs := range bad {
		return a, nil, fmt.Errorf("%s: %s", k, msgs[0])
	}
	o := &redis.Options{DB: a.db}
	if a.tls {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if a.kind == "server" {
		var err error
		if o, err = redis.ParseURL(a.url); err != nil {
			return a, nil, fmt.Errorf("cluster.redis: %v", err)
		}
	}
	pw, err := c.password(os.Getenv, os.ReadFile)
	if err != nil {
		return a, nil, err
	}
	if pw != "" {
		o.Password = pw
	}
	if a.sentinelPassword, err = c.sentinelPassword(os.Getenv, os.ReadFile); err != nil {
		return a, nil, err
	}
	if c.Username != "" {
		o.Username = c.Username
	}
	if c.TLS.Enabled || c.TLS.CA != "" || o.TLSConfig != nil {
		tc := o.TLSConfig
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if c.TLS.CA != "" {
			pem, err := os.ReadFile(c.TLS.CA)
			if err != nil {
				return a, nil, fmt.Errorf("cluster.tls.ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return a, nil, fmt.Errorf("cluster.tls.ca: %s holds no PEM certificate", c.TLS.CA)
			}
			tc.RootCAs = pool
		}
		if c.TLS.ServerName != "" {
			tc.ServerName = c.TLS.ServerName
		}
		o.TLSConfig = tc
	}
	t := c.Timeout.D()
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t, t, t, t
	o.MaxRetries = -1 // no retries: the loops try again on their next tick
	o.PoolSize = 8
	o.MinIdleConns = 1
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true // CLIENT SETINFO is one more round trip, and old servers refuse it
	return a, o, nil
}

func newStore(c *Config) (*store, error) {
	a, o, err := clientOptions(c)
	if err != nil {
		return nil, err
	}
	return &store{rdb: a.newClient(o), timeout: c.Timeout.D(),
		br: breaker{failures: DefaultBreakerFailures, cooldown: DefaultBreakerCooldown}}, nil
}

// do runs f with the call timeout, through the breaker.
func (s *store) do(f func(ctx context.Context, rdb redis.UniversalClient) error) error {
	if !s.br.allow(time.Now()) {
		return errOpen
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	err := f(ctx, s.rdb)
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	s.br.record(err == nil, time.Now())
	return err
}

// up reports whether the breaker lets calls through.
func (s *store) up() bool { return s.br.closed() }

func (s *store) close() { _ = s.rdb.Close() }

// breaker opens after failures consecutive errors and lets one probe
// through per cooldown until a call succeeds.
type breaker struct {
	failures int
	cooldown time.Duration

	mu      sync.Mutex
	fails   int
	openAt  time.Time
	probing bool
}

func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails < b.failures {
		return true
	}
	if b.probing || now.Sub(b.openAt) < b.cooldown {
		return false
	}
	b.probing = true
	return true
}

func (b *breaker) record(ok bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probing {
		b.probing = false
		if !ok {
			b.openAt = now
			return
		}
	}
	if ok {
		b.fails = 0
		return
	}
	b.fails++
	if b.fails == b.failures {
		b.openAt = now
	}
}

func (b *breaker) closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fails < b.failures
}

// quietLogger drops the client's own logs (a dial error per attempt while
// the store is down): the capability logs store outages once, and counts
// failed calls in levee_cluster_store_errors_total.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietLogger{}) }
