// Package autotls is levee's automatic HTTPS: certificates from an ACME CA
// (certmagic) for the sites' real host names and, behind a gate, on demand
// for names not in the config; HTTP-01 answered in the request chain,
// TLS-ALPN-01 at the handshake; HTTP redirected to HTTPS.
package autotls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"levee/internal/pipeline"
)

// Capability is automatic HTTPS's node-level state: the certificate cache
// (shared by every generation, so a reload keeps certificates in memory),
// the current generation's manager, and each name's last outcome for
// /status.
type Capability struct {
	host   pipeline.Host
	mu     sync.Mutex
	cache  *certmagic.Cache // made by the first generation that enables it
	cur    atomic.Pointer[manager]
	book   *book
	events *prometheus.CounterVec
	gateM  *prometheus.CounterVec
	dns    ChallengeDNS // levee's DNS server, for DNS-01 (dns01.go); nil: none
	ctx    context.Context
	cancel context.CancelFunc
}

// manager is one generation's certmagic configuration.
type manager struct {
	magic     *certmagic.Config
	issuer    *certmagic.ACMEIssuer
	names     []string
	managed   map[string]bool
	httpsPort int
	gate      *gate
	dns01     bool // names in levee's zones are validated with DNS-01
}

// NewCapability returns the automatic HTTPS capability of a node.
func NewCapability(h pipeline.Host) *Capability {
	c := &Capability{host: h, book: newBook(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_autotls_events_total",
			Help: "Certificate events by kind (obtaining, obtained, failed)."}, []string{"event"}),
		gateM: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_autotls_on_demand_rejected_total",
			Help: "On-demand certificate requests refused, by reason (not_allowed, rate, max_names, ask_error)."}, []string{"reason"}),
	}
	if h.Registry != nil {
		h.Registry.MustRegister(c.events, c.gateM)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

var errNoAuto = errors.New("no automatic certificate for this name")

// GetCertificate is the listener's hook for tls.auto listeners: the
// current generation's certificate for the client's SNI (obtained on
// demand if the gate allows), or the TLS-ALPN-01 challenge certificate.
//
// A handshake for a managed name whose first certificate is still being
// obtained waits for it (at most firstCertWait, or until the client goes),
// so the very first request after start gets a certificate.
func (c *Capability) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	m := c.cur.Load()
	if m == nil {
		return nil, errNoAuto
	}
	name := hostOnly(hello.ServerName)
	if m.managed[name] && !slices.Contains(hello.SupportedProtos, "acme-tls/1") {
		c.waitFirst(hello.Context(), name, func() {
			// Another node of the cluster may have stored it.
			_, _ = m.magic.CacheManagedCertificate(hello.Context(), name)
		})
		if !c.hasCertificate(name) && c.book.ok(name) {
			// Obtained and stored, not yet in memory: certmagic caches
			// it just after its "obtained" event.
			_, _ = m.magic.CacheManagedCertificate(hello.Context(), name)
		}
	}
	return m.magic.GetCertificate(hello)
}

// firstCertWait bounds how long a handshake waits for a name's first
// certificate; storagePoll is how often it looks in the storage meanwhile
// (in a cluster another node may obtain it, and this node's certmagic
// sends no event for that).
const (
	firstCertWait = 30 * time.Second
	storagePoll   = 500 * time.Millisecond
)

func (c *Capability) waitFirst(ctx context.Context, name string, load func()) {
	deadline := time.NewTimer(firstCertWait)
	defer deadline.Stop()
	poll := time.NewTicker(storagePoll)
	defer poll.Stop()
	for i := 0; i < 1000 && !c.hasCertificate(name); i++ {
		pending, changed := c.book.pending(name)
		if !pending {
			return
		}
		select {
		case <-changed:
		case <-poll.C:
			load()
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		}
	}
}

// Stage builds the generation's manager from its section; siteHosts are
// every site's hosts. shared, when given (a node in a cluster), is where
// certificates, ACME accounts and locks live instead of the data
// directory, so one node obtains a certificate and all use it. Nothing is
// asked of the CA until the commit.
func (c *Capability) Stage(cfg *Config, siteHosts []string, shared ...certmagic.Storage) (pipeline.Staged, error) {
	if !cfg.Enabled {
		return pipeline.Staged{Commit: func() { c.cur.Store(nil) }}, nil
	}
	if c.host.DataDir == "" {
		return pipeline.Staged{}, errors.New("auto_https: certificates are kept in the data directory, and none is set (--data-dir)")
	}
	var storage certmagic.Storage = &certmagic.FileStorage{Path: filepath.Join(c.host.DataDir, "certificates")}
	if len(shared) > 0 && shared[0] != nil {
		storage = shared[0]
	}
	m, err := c.newManager(cfg, siteHosts, storage)
	if err != nil {
		return pipeline.Staged{}, err
	}
	commit := func() {
		// The DNS capability commits first: its zones are this
		// generation's when the wildcard names are chosen.
		if m.dns01 {
			for _, n := range wildcardNames(c.dns, siteHosts) {
				m.names = append(m.names, n)
				m.managed[n] = true
			}
		}
		c.cur.Store(m)
		for _, n := range m.names {
			c.book.want(n)
		}
		// Asynchronous: a CA that is down or refuses costs the other
		// sites nothing; certmagic retries with backoff and each attempt
		// is logged once (onEvent).
		if err := m.magic.ManageAsync(c.ctx, m.names); err != nil {
			c.host.Log.Error("auto_https: cannot manage certificates", "names", m.names, "err", err)
		}
	}
	return pipeline.Staged{Phases: map[string]pipeline.Phase{"acme": m.phase(c)}, Commit: commit}, nil
}

func (c *Capability) newManager(cfg *Config, siteHosts []string, storage certmagic.Storage) (*manager, error) {
	var roots *x509.CertPool
	if cfg.CARoot != "" {
		pem, err := os.ReadFile(cfg.CARoot)
		if err != nil {
			return nil, fmt.Errorf("auto_https.ca_root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auto_https.ca_root: no PEM certificate in %s", cfg.CARoot)
		}
	}
	m := &manager{names: ManagedNames(cfg, siteHosts), managed: map[string]bool{}, httpsPort: cfg.HTTPSPort}
	for _, n := range m.names {
		m.managed[n] = true
	}
	tmpl := certmagic.Config{
		Storage: storage,
		Logger:  zap.NewNop(), // levee logs each attempt itself (onEvent)
		OnEvent: c.onEvent,
	}
	if cfg.OnDemand != nil {
		m.gate = newGate(cfg.OnDemand, c.gateM, c.host.Log)
		tmpl.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.gate.decide}
	}
	magic := certmagic.New(c.cacheFor(), tmpl)
	ca := cfg.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	m.issuer = certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA: ca, Email: cfg.Email, Agreed: true, TrustedRoots: roots,
		DisableHTTPChallenge:    !has(cfg.Challenges, HTTP01),
		DisableTLSALPNChallenge: !has(cfg.Challenges, TLSALPN01),
		// levee's own listeners hold these ports and answer the
		// challenges (the acme phase, GetCertificate); certmagic's
		// fallback listener only starts if nothing listens there.
		AltHTTPPort: cfg.HTTPPort, AltTLSALPNPort: cfg.HTTPSPort,
		Logger: zap.NewNop(),
	})
	magic.Issuers = nil
	if m.dns01 = c.dns != nil && has(cfg.Challenges, DNS01); m.dns01 {
		// First: names in levee's zones (and wildcards, which only
		// DNS-01 validates); the others fail its PreCheck and go on.
		magic.Issuers = append(magic.Issuers, zoneIssuer{dns: c.dns, ACMEIssuer: certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
			CA: ca, Email: cfg.Email, Agreed: true, TrustedRoots: roots,
			DNS01Solver: dns01{p: provider{dns: c.dns}}, Logger: zap.NewNop(),
		})})
	}
	if has(cfg.Challenges, HTTP01) || has(cfg.Challenges, TLSALPN01) {
		magic.Issuers = append(magic.Issuers, issuerFor(m.issuer))
	}
	m.magic = magic
	return m, nil
}

// cacheFor returns the node's certificate cache, making it once. Its
// maintenance goroutine (renewals, OCSP) is certmagic's own.
func (c *Capability) cacheFor() *certmagic.Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = certmagic.NewCache(certmagic.CacheOptions{
			GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
				if m := c.cur.Load(); m != nil {
					return m.magic, nil
				}
				return nil, errNoAuto
			},
			Logger: zap.NewNop(),
		})
	}
	return c.cache
}

// hasCertificate reports whether a certificate for name is in memory.
func (c *Capability) hasCertificate(name string) bool {
	c.mu.Lock()
	cache := c.cache
	c.mu.Unlock()
	return cache != nil && len(cache.AllMatchingCertificates(name)) > 0
}

// onEvent turns certmagic's events into one log line per attempt and the
// /status book.
func (c *Capability) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtaining":
		c.events.WithLabelValues("obtaining").Inc()
		c.book.attempt(name)
	case "cert_obtained":
		c.events.WithLabelValues("obtained").Inc()
		c.book.obtained(name)
		c.host.Log.Info("auto_https: certificate obtained", "name", name, "renewal", data["renewal"])
	case "cert_failed":
		c.events.WithLabelValues("failed").Inc()
		err, _ := data["error"].(error)
		n := c.book.failed(name, err)
		c.host.Log.Warn("auto_https: certificate attempt failed; retrying with backoff", "name", name, "attempt", n, "err", err)
	}
	return nil
}

// Status is the certificates' part of /status.
func (c *Capability) Status() any {
	if c.cur.Load() == nil {
		return nil
	}
	return c.book.snapshot()
}

// Stop ends certificate maintenance.
func (c *Capability) Stop() {
	c.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache != nil {
		c.cache.Stop()
	}
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
