package dns

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"levee/internal/atomicfile"
)

// Signature validity: signed an hour in the past (clock skew), valid a
// week, re-made once less than half of it is left.
const (
	sigInception = time.Hour
	sigValidity  = 7 * 24 * time.Hour
	sigRefresh   = sigValidity / 2
	// maxSigCache bounds the signatures cached per zone. Past it the cache
	// is emptied (counted) and refills with what is asked.
	maxSigCache = 100000
	dnskeyTTL   = 3600
)

// signer signs a zone's RRsets online with one ECDSA P-256 key used as a
// combined signing key (flags 257).
type signer struct {
	zone string
	key  *mdns.DNSKEY
	priv crypto.Signer
	tag  uint16
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*mdns.RRSIG // by RRset content; guarded by mu
	// hits and misses count signature cache use (read by metrics).
	hits, misses, flushes func()
}

// loadSigner reads the key at prefix+".key"/".private", or generates and
// writes both when neither exists.
func loadSigner(zone, prefix string) (*signer, error) {
	pub, errPub := os.ReadFile(prefix + ".key")
	priv, errPriv := os.ReadFile(prefix + ".private")
	if errors.Is(errPub, fs.ErrNotExist) && errors.Is(errPriv, fs.ErrNotExist) {
		return generateKey(zone, prefix)
	}
	if errPub != nil {
		return nil, errPub
	}
	if errPriv != nil {
		return nil, errPriv
	}
	rr, err := mdns.NewRR(string(pub))
	if err != nil {
		return nil, fmt.Errorf("%s.key: %w", prefix, err)
	}
	key, ok := rr.(*mdns.DNSKEY)
	if !ok || key.Algorithm != mdns.ECDSAP256SHA256 {
		return nil, fmt.Errorf("%s.key: want an ECDSAP256SHA256 DNSKEY", prefix)
	}
	if !strings.EqualFold(key.Hdr.Name, zone) {
		return nil, fmt.Errorf("%s.key: key is for %s, not %s", prefix, key.Hdr.Name, zone)
	}
	pk, err := key.ReadPrivateKey(strings.NewReader(string(priv)), prefix+".private")
	if err != nil {
		return nil, err
	}
	cs, ok := pk.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s.private: not a signing key", prefix)
	}
	return newSigner(zone, key, cs), nil
}

func generateKey(zone, prefix string) (*signer, error) {
	key := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: dnskeyTTL},
		Flags: 257, Protocol: 3, Algorithm: mdns.ECDSAP256SHA256}
	pk, err := key.Generate(256)
	if err != nil {
		return nil, err
	}
	cs := pk.(crypto.Signer)
	if err := atomicfile.Write(prefix+".private", []byte(key.PrivateKeyString(pk)), 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(prefix+".key", []byte(key.String()+"\n"), 0o644); err != nil {
		return nil, err
	}
	return newSigner(zone, key, cs), nil
}

func newSigner(zone string, key *mdns.DNSKEY, priv crypto.Signer) *signer {
	key.Hdr.Name = zone
	key.Hdr.Ttl = dnskeyTTL
	nop := func() {}
	return &signer{zone: zone, key: key, priv: priv, tag: key.KeyTag(), now: time.Now,
		cache: map[string]*mdns.RRSIG{}, hits: nop, misses: nop, flushes: nop}
}

// DS returns the DS record (SHA-256) for the parent zone.
func (s *signer) DS() *mdns.DS { return s.key.ToDS(mdns.SHA256) }

// sign returns an RRSIG over rrset, from the cache when a fresh one exists.
func (s *signer) sign(rrset []mdns.RR) (*mdns.RRSIG, error) {
	key := sigKey(rrset)
	now := s.now()
	s.mu.Lock()
	if sig, ok := s.cache[key]; ok && time.Unix(int64(sig.Expiration), 0).Sub(now) > sigRefresh {
		s.mu.Unlock()
		s.hits()
		return sig, nil
	}
	s.mu.Unlock()
	s.misses()
	h := rrset[0].Header()
	sig := &mdns.RRSIG{
		Hdr:        mdns.RR_Header{Name: h.Name, Rrtype: mdns.TypeRRSIG, Class: mdns.ClassINET, Ttl: h.Ttl},
		Inception:  uint32(now.Add(-sigInception).Unix()),
		Expiration: uint32(now.Add(sigValidity).Unix()),
		KeyTag:     s.tag,
		SignerName: s.zone,
		Algorithm:  s.key.Algorithm,
	}
	if err := sig.Sign(s.priv, rrset); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) >= maxSigCache {
		clear(s.cache)
		s.flushes()
	}
	s.cache[key] = sig
	s.mu.Unlock()
	return sig, nil
}

// sigKey identifies an RRset's content, owner and TTL included, in a
// canonical order.
func sigKey(rrset []mdns.RR) string {
	parts := make([]string, len(rrset))
	for i, rr := range rrset {
		parts[i] = strings.ToLower(rr.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// nsec makes the NSEC "black lie" or NODATA proof for name: the name
// exists, with exactly types, and the next name is its immediate successor,
// so nothing else is claimed not to exist (as Cloudflare's and CoreDNS's
// online signers do).
func (s *signer) nsec(name string, types []uint16, ttl uint32) *mdns.NSEC {
	bitmap := append([]uint16{mdns.TypeRRSIG, mdns.TypeNSEC}, types...)
	sort.Slice(bitmap, func(i, j int) bool { return bitmap[i] < bitmap[j] })
	return &mdns.NSEC{
		Hdr:        mdns.RR_Header{Name: name, Rrtype: mdns.TypeNSEC, Class: mdns.ClassINET, Ttl: ttl},
		NextDomain: "\\000." + name,
		TypeBitMap: uniq(bitmap),
	}
}

func uniq(ts []uint16) []uint16 {
	out := ts[:0]
	for i, t := range ts {
		if i == 0 || t != ts[i-1] {
			out = append(out, t)
		}
	}
	return out
}
