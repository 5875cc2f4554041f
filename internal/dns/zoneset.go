package dns

import (
	"errors"
	"fmt"
	"levee/internal/config/schema"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// maxZoneFileBytes bounds one zone file.
const maxZoneFileBytes = MaxZoneFileBytes

// Zones is every zone of one config, immutable once built.
type Zones struct {
	byWire  map[string]*Zone
	byName  map[string]*Zone
	zones   []*Zone
	members []*member // every member of every steered name
	udpSize int
	// warnings are logged when the zones are applied.
	warnings []string
}

// Build parses and checks every zone of c's dns: section (files, inline
// records, steered names, DNSSEC keys) without serving anything. It is the
// gate a zone passes on start, reload and `levee validate`.
// Build parses and bounds the zones of a dns: section; pools are the
// config's named pools, which steered names answer from.
func Build(c *Config, pools schema.Pools) (*Zones, error) {
	zs := &Zones{byWire: map[string]*Zone{}, byName: map[string]*Zone{}, udpSize: c.UDPSize}
	if len(c.Zones) > MaxZones {
		return nil, fmt.Errorf("dns.zones: %d zones, over the limit of %d: %w", len(c.Zones), MaxZones, errOverBound)
	}
	// Every zone is built even after one fails, so one run reports every
	// broken zone file, not the first.
	var errs []error
	for i := range c.Zones {
		z, err := buildZone(&c.Zones[i], c.MaxRecordsPerZone, pools, c.EdgePool, zs)
		if err != nil {
			errs = append(errs, fmt.Errorf("dns.zones[%d]: %w", i, err))
			continue
		}
		zs.byWire[z.wire] = z
		zs.byName[z.Origin] = z
		zs.zones = append(zs.zones, z)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return zs, nil
}

// Warnings are what a valid set of zones should still tell the operator
// (a steered pool without active checks); levee validate prints them.
func (zs *Zones) Warnings() []string { return slices.Clone(zs.warnings) }

func buildZone(zc *ZoneConfig, maxRecords int, pools schema.Pools, edge string, zs *Zones) (*Zone, error) {
	var sources []zoneSource
	if zc.File != "" {
		src, closer, err := openZoneFile(zc.File)
		if err != nil {
			return nil, err
		}
		defer closer()
		sources = append(sources, src)
	}
	if len(zc.Records) > 0 {
		sources = append(sources, zoneSource{name: "records", r: strings.NewReader(strings.Join(zc.Records, "\n") + "\n")})
	}
	z, err := parseZone(zc.Origin, sources, maxRecords)
	if err != nil {
		return nil, err
	}
	z.secondaries = zc.Secondaries
	for j := range zc.Steer {
		s, err := newSteer(z.Origin, &zc.Steer[j], pools, edge)
		if err != nil {
			return nil, fmt.Errorf("steer[%d]: %w", j, err)
		}
		n := z.ensure(s.owner)
		if n.steer != nil || len(n.sets[mdns.TypeA]) > 0 || len(n.sets[mdns.TypeAAAA]) > 0 || len(n.sets[mdns.TypeCNAME]) > 0 {
			return nil, fmt.Errorf("steer[%d]: %s already has A, AAAA or CNAME records or another steer", j, s.owner)
		}
		n.steer = s
		for _, p := range s.pools() {
			if pc, ok := pools[p.name]; ok && !pc.ActiveChecks {
				zs.warnings = append(zs.warnings, fmt.Sprintf("dns.zones %s: steered name %s uses pool %s, which has no health.active checks: "+
					"only proxied traffic (passive checks) can mark its origins down", z.Origin, s.owner, p.name))
			}
			for k := range p.members {
				zs.members = append(zs.members, &p.members[k])
			}
		}
	}
	if zc.DNSSEC != nil {
		sg, err := loadSigner(z.Origin, zc.DNSSEC.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("dnssec: %w", err)
		}
		z.signer = sg
		apex := z.nodes[z.wire]
		apex.sets[mdns.TypeDNSKEY] = []mdns.RR{sg.key}
	}
	return z, nil
}

// signed reports whether any zone is signed.
func (zs *Zones) signed() bool {
	for _, z := range zs.zones {
		if z.signer != nil {
			return true
		}
	}
	return false
}

// findName returns the zone that holds name (lowercase presentation form):
// the one with the longest matching origin.
func (zs *Zones) findName(name string) *Zone {
	for _, i := range mdns.Split(name) {
		if z := zs.byName[name[i:]]; z != nil {
			return z
		}
	}
	return zs.byName["."]
}

// findWire is findName for a lowercase wire-form name; it does not allocate.
func (zs *Zones) findWire(name []byte) *Zone {
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if z := zs.byWire[string(name[off:])]; z != nil {
			return z
		}
		if name[off] == 0 {
			break
		}
	}
	return nil
}

// OriginOf reads a zone file's origin: the owner of its SOA record, for
// quick mode when no origin is given. Relative names before an $ORIGIN are
// taken as relative to the root.
func OriginOf(path string) (string, error) {
	src, closer, err := openZoneFile(path)
	if err != nil {
		return "", err
	}
	defer closer()
	zp := mdns.NewZoneParser(src.r, ".", path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if rr.Header().Rrtype == mdns.TypeSOA {
			return strings.ToLower(rr.Header().Name), nil
		}
	}
	if err := zp.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no SOA record; give the origin with --origin", path)
}

// DS returns the DS record (SHA-256 digest) of the DNSSEC key at prefix
// for zone, in presentation form, generating the key if it does not exist.
func DS(zone, prefix string) (string, error) {
	sg, err := loadSigner(strings.ToLower(mdns.Fqdn(zone)), prefix)
	if err != nil {
		return "", err
	}
	return sg.DS().String(), nil
}
