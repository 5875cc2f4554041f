package health

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxCheckers bounds the checks of one pool running at once.
const maxCheckers = 16

// maxCheckBody bounds the body read when matching expect_body.
const maxCheckBody = 64 << 10

// checker runs one pool's active checks: a round at start, then one per
// interval, until halted.
type checker struct {
	s        *Store
	ps       *poolState
	interval time.Duration
	stop     chan struct{}
	once     sync.Once
}

func checkKey(h *PoolConfig) string {
	if h == nil || h.Active == nil {
		return ""
	}
	return fmt.Sprintf("%+v", *h.Active)
}

func (s *Store) startChecker(ps *poolState, interval time.Duration) *checker {
	c := &checker{s: s, ps: ps, interval: interval, stop: make(chan struct{})}
	s.wall.Go("health-check:"+ps.name, c.loop)
	return c
}

func (c *checker) halt() { c.once.Do(func() { close(c.stop) }) }

func (c *checker) loop() {
	round := func() { c.s.wall.Run("health-round:"+c.ps.name, func() { c.s.Round(c.ps.name) }) }
	round()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.s.stop:
			return
		case <-t.C:
			round()
		}
	}
}

// Round runs one active check of every origin of a pool and waits for the
// results. The checker calls it each interval; tests call it directly
// instead of sleeping on tickers. A pool without active checks is a no-op.
func (s *Store) Round(poolName string) {
	s.mu.RLock()
	ps := s.pools[poolName]
	var entries []*entry
	if ps != nil {
		for _, e := range ps.entries {
			entries = append(entries, e)
		}
	}
	s.mu.RUnlock()
	if ps == nil {
		return
	}
	set := ps.set.Load()
	if set.cfg == nil || set.cfg.Active == nil {
		return
	}
	a := set.cfg.Active
	sem := make(chan struct{}, maxCheckers)
	var wg sync.WaitGroup
	for _, e := range entries {
		sem <- struct{}{}
		wg.Add(1)
		s.wall.Go("health-probe", func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			err := probe(e, a, set.rt)
			ok := err == nil
			msg := ""
			if ok {
				e.st.Observe(time.Since(start).Nanoseconds())
			} else {
				msg = err.Error()
			}
			s.m.checks.WithLabelValues(ps.name, resultName(ok)).Inc()
			e.activeResult(ok, msg, a.Rise, a.Fall)
		})
	}
	wg.Wait()
}

func resultName(ok bool) string {
	if ok {
		return "ok"
	}
	return "fail"
}

// probe runs one check of e.
func probe(e *entry, a *ActiveConfig, rt http.RoundTripper) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout.D())
	defer cancel()
	if a.Type == "tcp" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", hostPort(e.scheme, e.host))
		if err != nil {
			return fmt.Errorf("tcp check: %w", err)
		}
		return conn.Close()
	}
	return probeHTTP(ctx, e, a, rt)
}

func probeHTTP(ctx context.Context, e *entry, a *ActiveConfig, rt http.RoundTripper) error {
	req, err := http.NewRequestWithContext(ctx, a.Method, e.scheme+"://"+e.host+a.Path, nil)
	if err != nil {
		return fmt.Errorf("http check: %w", err)
	}
	if a.Host != "" {
		req.Host = a.Host
	}
	req.Header.Set("User-Agent", "levee-health-check")
	if rt == nil {
		rt = http.DefaultTransport
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("http check: %w", err)
	}
	defer res.Body.Close()
	lo, hi, _ := ParseStatusRange(a.ExpectStatus)
	if res.StatusCode < lo || res.StatusCode > hi {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxCheckBody))
		return fmt.Errorf("http check: status %d, want %s", res.StatusCode, a.ExpectStatus)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxCheckBody))
	if err != nil {
		return fmt.Errorf("http check: body: %w", err)
	}
	if a.ExpectBody != "" && !bytes.Contains(body, []byte(a.ExpectBody)) {
		return fmt.Errorf("http check: body does not contain %q", a.ExpectBody)
	}
	return nil
}

func hostPort(scheme, host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if scheme == "https" {
		return net.JoinHostPort(host, "443")
	}
	return net.JoinHostPort(host, "80")
}
