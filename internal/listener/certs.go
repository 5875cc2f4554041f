package listener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"levee/internal/config"
)

// Certs are a TLS listener's certificates; the one matching the client's
// SNI is served, the first is the default.
type Certs struct {
	certs []tls.Certificate
}

// LoadCerts reads the certificate pairs of a tls: block.
func LoadCerts(t *config.TLS) (*Certs, error) {
	cs := &Certs{}
	for i, c := range t.Certificates {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		cs.certs = append(cs.certs, cert)
	}
	return cs, nil
}

// match returns the certificate whose names cover the client's SNI, or nil.
func (cs *Certs) match(hello *tls.ClientHelloInfo) *tls.Certificate {
	for i := range cs.certs {
		if hello.SupportsCertificate(&cs.certs[i]) == nil {
			return &cs.certs[i]
		}
	}
	return nil
}

// fallback is the default certificate, or nil if there is none.
func (cs *Certs) fallback() *tls.Certificate {
	if len(cs.certs) == 0 {
		return nil
	}
	return &cs.certs[0]
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
