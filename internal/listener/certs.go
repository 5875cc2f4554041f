package listener

import (
	"crypto/tls"
	"errors"
	"fmt"
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
	var errs []error // every broken pair, not only the first
	for i, c := range t.Certificates {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificates[%d]: %w", i, err))
			continue
		}
		cs.certs = append(cs.certs, cert)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cs, nil
}

func (cs *Certs) pick(hello *tls.ClientHelloInfo) *tls.Certificate {
	for i := range cs.certs {
		if hello.SupportsCertificate(&cs.certs[i]) == nil {
			return &cs.certs[i]
		}
	}
	return &cs.certs[0]
}

func minTLS(v string) uint16 {
	if strings.TrimSpace(v) == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}
