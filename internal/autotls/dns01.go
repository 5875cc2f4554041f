package autotls

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/libdns/libdns"
	"github.com/mholt/acmez/v3/acme"
)

// ChallengeDNS is levee's own authoritative DNS as DNS-01 uses it: which
// zone levee serves for a name, and the _acme-challenge TXT records it
// answers while a validation runs (dns.Server).
type ChallengeDNS interface {
	ZoneOf(name string) (zone string, ok bool)
	AddChallenge(name, value string) error
	RemoveChallenge(name, value string)
}

// UseDNS gives automatic HTTPS levee's DNS server: names in the zones it
// serves are then validated with DNS-01 (when dns-01 is among the
// challenges), wildcard names included. Call it before the first Stage.
func (c *Capability) UseDNS(d ChallengeDNS) { c.dns = d }

// challengeTTL is the TTL asked for the challenge records (the server
// caps it at its own short TTL).
const challengeTTL = 10 * time.Second

// provider is a libdns provider over levee's running DNS zones: what
// certmagic's DNS-01 machinery expects of a DNS host, without an API call
// to anyone.
type provider struct{ dns ChallengeDNS }

var errNotTXT = errors.New("levee's DNS takes only TXT records for ACME challenges")

// AppendRecords adds TXT records to zone.
func (p provider) AppendRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var done []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		if rr.Type != "TXT" {
			return done, errNotTXT
		}
		if err := p.dns.AddChallenge(libdns.AbsoluteName(rr.Name, zone), rr.Data); err != nil {
			return done, err
		}
		done = append(done, rec)
	}
	return done, nil
}

// DeleteRecords removes TXT records from zone; absent ones are ignored.
func (p provider) DeleteRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, rec := range recs {
		rr := rec.RR()
		p.dns.RemoveChallenge(libdns.AbsoluteName(rr.Name, zone), rr.Data)
	}
	return recs, nil
}

var (
	_ libdns.RecordAppender = provider{}
	_ libdns.RecordDeleter  = provider{}
)

// dns01 is the DNS-01 solver: the zone comes from levee's own zones (no
// look-up of SOA records through resolvers, which do not know a private
// zone), and the record is answered at once by levee's server, so there
// is no propagation to wait for.
type dns01 struct{ p provider }

func (s dns01) record(ch acme.Challenge) (string, libdns.TXT, error) {
	name := ch.DNS01TXTRecordName()
	zone, ok := s.p.dns.ZoneOf(name)
	if !ok {
		return "", libdns.TXT{}, fmt.Errorf("%s is in no zone this node serves", name)
	}
	return zone, libdns.TXT{Name: libdns.RelativeName(name, zone), TTL: challengeTTL, Text: ch.DNS01KeyAuthorization()}, nil
}

// Present adds the challenge's TXT record.
func (s dns01) Present(ctx context.Context, ch acme.Challenge) error {
	zone, rec, err := s.record(ch)
	if err != nil {
		return err
	}
	_, err = s.p.AppendRecords(ctx, zone, []libdns.Record{rec})
	return err
}

// CleanUp removes it.
func (s dns01) CleanUp(ctx context.Context, ch acme.Challenge) error {
	zone, rec, err := s.record(ch)
	if err != nil {
		return err
	}
	_, err = s.p.DeleteRecords(ctx, zone, []libdns.Record{rec})
	return err
}

// zoneIssuer is the DNS-01 issuer: certmagic tries issuers in order and
// skips one whose PreCheck fails, so names outside levee's zones go on
// to the HTTP-01 / TLS-ALPN-01 issuer without an order at the CA.
type zoneIssuer struct {
	*certmagic.ACMEIssuer
	dns ChallengeDNS
}

// PreCheck accepts names in a zone levee serves.
func (z zoneIssuer) PreCheck(ctx context.Context, names []string, interactive bool) error {
	for _, n := range names {
		if _, ok := z.dns.ZoneOf(strings.TrimPrefix(n, "*.")); !ok {
			return fmt.Errorf("%s is in no zone this node serves: not for DNS-01", n)
		}
	}
	return accountPreCheck(ctx, z.ACMEIssuer, names, interactive)
}

// wildcardNames are the wildcard site hosts ("*.shop.example") whose zone
// levee serves: only DNS-01 can validate them.
func wildcardNames(d ChallengeDNS, siteHosts []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range siteHosts {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		base, ok := strings.CutPrefix(h, "*.")
		if !ok || !realName(base) || seen[h] {
			continue
		}
		if _, served := d.ZoneOf(base); served {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
