package dns

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	mdns "github.com/miekg/dns"
)

// Zone is one authoritative zone, immutable once built. Names are keyed by
// their lowercase wire form, so a query's name can be looked up straight
// from the packet without allocating.
type Zone struct {
	// Origin is the apex in lowercase presentation form ("example.com.").
	Origin string
	wire   string // Origin in lowercase wire form
	nodes  map[string]*node
	soa    *mdns.SOA
	// Serial is the SOA serial.
	Serial uint32
	// Hash identifies the zone's content; a NOTIFY goes out when it changes.
	Hash [32]byte
	// Records counts the records, for bounds and metrics.
	Records     int
	static      []mdns.RR // for AXFR, in file order, SOA first
	secondaries []string
	signer      *signer
}

// node is one owner name of a zone.
type node struct {
	name  string // lowercase presentation
	sets  map[uint16][]mdns.RR
	steer *steer
	cut   bool // a delegation: NS records below the apex
}

// errOverBound marks a zone rejected for having too many records.
var errOverBound = errors.New("over the bound")

// parseZone reads zone-file text (a file's content, then inline records)
// into a Zone. maxRecords bounds the total; going past it is an error,
// never a truncation.
func parseZone(origin string, sources []zoneSource, maxRecords int) (*Zone, error) {
	origin = strings.ToLower(mdns.Fqdn(origin))
	if _, ok := mdns.IsDomainName(origin); !ok {
		return nil, fmt.Errorf("bad origin %q", origin)
	}
	z := &Zone{Origin: origin, nodes: map[string]*node{}}
	z.wire = wireName(origin)
	h := sha256.New()
	for _, src := range sources {
		zp := mdns.NewZoneParser(src.r, origin, src.name)
		zp.SetDefaultTTL(3600)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			if z.Records >= maxRecords {
				return nil, fmt.Errorf("zone %s: more than %d records: %w", origin, maxRecords, errOverBound)
			}
			if err := z.add(rr); err != nil {
				return nil, fmt.Errorf("%s: %w", src.name, err)
			}
			io.WriteString(h, rr.String())
			h.Write([]byte{'\n'})
		}
		if err := zp.Err(); err != nil {
			return nil, fmt.Errorf("zone %s: %w", origin, err)
		}
	}
	copy(z.Hash[:], h.Sum(nil))
	return z, z.finish()
}

// zoneSource is one piece of zone text and the name its errors carry.
type zoneSource struct {
	name string
	r    io.Reader
}

// openZoneFile opens a zone file after checking its size against the bound.
func openZoneFile(path string) (zoneSource, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return zoneSource{}, nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() > maxZoneFileBytes {
		f.Close()
		return zoneSource{}, nil, fmt.Errorf("%s: %d bytes, over the limit of %d: %w", path, st.Size(), maxZoneFileBytes, errOverBound)
	}
	return zoneSource{name: path, r: io.LimitReader(f, maxZoneFileBytes)}, func() { f.Close() }, err
}

func (z *Zone) add(rr mdns.RR) error {
	h := rr.Header()
	h.Name = strings.ToLower(h.Name)
	if h.Class != mdns.ClassINET {
		return fmt.Errorf("%s: only class IN is served", h.Name)
	}
	if !mdns.IsSubDomain(z.Origin, h.Name) {
		return fmt.Errorf("%s is outside the zone %s", h.Name, z.Origin)
	}
	switch h.Rrtype {
	case mdns.TypeRRSIG, mdns.TypeNSEC, mdns.TypeNSEC3, mdns.TypeNSEC3PARAM, mdns.TypeOPT:
		return fmt.Errorf("%s: %s records are not served from zone data (online signing makes its own)", h.Name, mdns.TypeToString[h.Rrtype])
	case mdns.TypeSOA:
		if h.Name != z.Origin {
			return fmt.Errorf("%s: SOA only at the apex", h.Name)
		}
		if z.soa != nil {
			return fmt.Errorf("%s: a second SOA", h.Name)
		}
		z.soa = rr.(*mdns.SOA)
		z.Serial = z.soa.Serial
	}
	n := z.ensure(h.Name)
	n.sets[h.Rrtype] = append(n.sets[h.Rrtype], rr)
	z.static = append(z.static, rr)
	z.Records++
	return nil
}

// ensure returns the node of name, creating it and any empty non-terminal
// between it and the apex, so those answer NODATA rather than NXDOMAIN.
func (z *Zone) ensure(name string) *node {
	key := wireName(name)
	if n, ok := z.nodes[key]; ok {
		return n
	}
	n := &node{name: name, sets: map[uint16][]mdns.RR{}}
	z.nodes[key] = n
	if name != z.Origin {
		if i := strings.IndexByte(name, '.'); i >= 0 && i+1 < len(name) {
			z.ensure(name[i+1:])
		}
	}
	return n
}

// finish checks the zone's shape: SOA and NS at the apex, no CNAME beside
// other data, and marks delegations.
func (z *Zone) finish() error {
	apex := z.nodes[z.wire]
	if z.soa == nil || apex == nil {
		return fmt.Errorf("zone %s has no SOA record at its apex", z.Origin)
	}
	if len(apex.sets[mdns.TypeNS]) == 0 {
		return fmt.Errorf("zone %s has no NS records at its apex", z.Origin)
	}
	for _, n := range z.nodes {
		if len(n.sets[mdns.TypeCNAME]) > 1 {
			return fmt.Errorf("%s: more than one CNAME", n.name)
		}
		if len(n.sets[mdns.TypeCNAME]) > 0 && len(n.sets) > 1 {
			return fmt.Errorf("%s: a CNAME cannot sit beside other records", n.name)
		}
		if n != apex && len(n.sets[mdns.TypeNS]) > 0 {
			n.cut = true
		}
		for t, rrs := range n.sets {
			n.sets[t] = dedupe(rrs)
		}
	}
	// AXFR sends the SOA first and last; keep it first here.
	sort.SliceStable(z.static, func(i, j int) bool {
		return z.static[i].Header().Rrtype == mdns.TypeSOA && z.static[j].Header().Rrtype != mdns.TypeSOA
	})
	return nil
}

// dedupe drops duplicate records of one RRset and gives them one TTL (the
// smallest), as RFC 2181 5.2 asks.
func dedupe(rrs []mdns.RR) []mdns.RR {
	out := rrs[:0]
	ttl := rrs[0].Header().Ttl
	for _, rr := range rrs {
		dup := false
		for _, o := range out {
			if mdns.IsDuplicate(rr, o) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, rr)
			ttl = min(ttl, rr.Header().Ttl)
		}
	}
	for _, rr := range out {
		rr.Header().Ttl = ttl
	}
	return out
}

// wireName packs a presentation name into lowercase wire form. Names come
// from parsed zone data, so they are valid.
func wireName(name string) string {
	buf := make([]byte, 256)
	n, err := mdns.PackDomainName(strings.ToLower(mdns.Fqdn(name)), buf, 0, nil, false)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// minTTL is the TTL of negative answers: the SOA's minimum, capped by its TTL
// (RFC 2308 section 5).
func (z *Zone) minTTL() uint32 { return min(z.soa.Minttl, z.soa.Hdr.Ttl) }
