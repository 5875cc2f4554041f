package listener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"levee/internal/config"
)

// certCheckEvery is how often a TLS listener's certificate files are
// checked for changes, at most: on a handshake, never in the background.
const certCheckEvery = time.Second

// Certs are a TLS listener's certificates; the one matching the client's
// SNI is served, the first is the default. Files that change on disk
// (renewed by another tool) are loaded again without a reload; a pair
// that does not load keeps the previous one in service.
type Certs struct {
	files     []config.Certificate
	cur       atomic.Pointer[certSet]
	nextCheck atomic.Int64 // unix nanoseconds
	log       atomic.Pointer[slog.Logger]
}

// certSet is one loaded state of the files.
type certSet struct {
	certs  []tls.Certificate
	stamps string // size and modification time of every file
}

// LoadCerts reads the certificate pairs of a tls: block.
func LoadCerts(t *config.TLS) (*Certs, error) {
	cs := &Certs{files: t.Certificates}
	set, err := loadSet(t.Certificates)
	if err != nil {
		return nil, err
	}
	cs.cur.Store(set)
	cs.nextCheck.Store(time.Now().Add(certCheckEvery).UnixNano())
	return cs, nil
}

func loadSet(files []config.Certificate) (*certSet, error) {
	set := &certSet{stamps: stamps(files)}
	var errs []error // every broken pair, not only the first
	for i, c := range files {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificates[%d]: %w", i, err))
			continue
		}
		set.certs = append(set.certs, cert)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func stamps(files []config.Certificate) string {
	var b strings.Builder
	for _, c := range files {
		for _, p := range []string{c.Cert, c.Key} {
			if fi, err := os.Stat(p); err == nil {
				fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
			} else {
				b.WriteString("missing;")
			}
		}
	}
	return b.String()
}

// refresh loads the files again if they changed since the last look; one
// handshake per certCheckEvery pays for the stat calls.
func (cs *Certs) refresh() {
	now := time.Now().UnixNano()
	next := cs.nextCheck.Load()
	if now < next || len(cs.files) == 0 || !cs.nextCheck.CompareAndSwap(next, now+int64(certCheckEvery)) {
		return
	}
	old := cs.cur.Load()
	st := stamps(cs.files)
	if st == old.stamps {
		return
	}
	set, err := loadSet(cs.files)
	if err != nil {
		// Half-written files (a certificate renewed before its key) fail
		// here: keep serving the old pair, try again when they change.
		cs.cur.Store(&certSet{certs: old.certs, stamps: st})
		if lg := cs.log.Load(); lg != nil {
			lg.Warn("tls: certificate files changed but do not load; the previous certificate stays in service", "err", err)
		}
		return
	}
	cs.cur.Store(set)
	if lg := cs.log.Load(); lg != nil {
		lg.Info("tls: certificate files changed; loaded again")
	}
}

// match returns the certificate whose names cover the client's SNI, or nil.
func (cs *Certs) match(hello *tls.ClientHelloInfo) *tls.Certificate {
	cs.refresh()
	certs := cs.cur.Load().certs
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i]
		}
	}
	return nil
}

// fallback is the default certificate, or nil if there is none.
func (cs *Certs) fallback() *tls.Certificate {
	certs := cs.cur.Load().certs
	if len(certs) == 0 {
		return nil
	}
	return &certs[0]
}

func minTLS(v string) uint16 {
	if strings.TrimSpace(v) == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// acmeTLS1 is the ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
const acmeTLS1 = "acme-tls/1"

// certificateFor is a TLS listener's certificate choice: a challenge
// handshake goes to the automatic manager; otherwise the listener's own
// certificate matching the SNI, then (auto) the automatic manager's, then
// the listener's first certificate.
func (set *Set) certificateFor(s *slot, auto bool) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cs := s.certs.Load()
		hook := set.hooks.Certificate
		if auto && hook != nil && slices.Contains(hello.SupportedProtos, acmeTLS1) {
			return hook(hello)
		}
		if cs != nil {
			if c := cs.match(hello); c != nil {
				return c, nil
			}
		}
		if auto && hook != nil {
			c, err := hook(hello)
			if err == nil && c != nil {
				return c, nil
			}
			if cs == nil || cs.fallback() == nil {
				return nil, err
			}
		}
		if cs != nil && cs.fallback() != nil {
			return cs.fallback(), nil
		}
		return nil, errors.New("no certificate for this listener")
	}
}
