package dns

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// ACME DNS-01 records: TXT records at _acme-challenge names inside the
// zones levee serves, added while a certificate is being validated and
// removed after. They live beside the zones (a reload does not drop
// them), are answered before the packed-answer cache (so a negative
// answer cached earlier does not hide them), and are bounded in number
// and in life.
const (
	maxChallenges = 64
	// challengeTTL is short: a resolver must not keep a challenge value
	// after the validation it was made for.
	challengeTTL = 10
	// challengeLife removes a record its client forgot to remove.
	challengeLife  = 10 * time.Minute
	challengeLabel = "_acme-challenge."
)

var (
	errChallengeName  = errors.New("only _acme-challenge names can be added")
	errChallengesFull = fmt.Errorf("too many ACME challenge records at once (at most %d)", maxChallenges)
)

type challenge struct {
	name, value string
	until       time.Time
}

// challenges is the server's set of DNS-01 records. active is read by
// every query, so the set costs one atomic load when empty.
type challenges struct {
	mu     sync.Mutex
	recs   []challenge
	active atomic.Int32
}

// ZoneOf returns the origin of the zone levee serves that holds name
// (presentation form, with or without the final dot), if any.
func (s *Server) ZoneOf(name string) (string, bool) {
	v := s.view.Load()
	if v == nil {
		return "", false
	}
	name = mdns.Fqdn(strings.ToLower(name))
	if z := v.zones.findName(name); z != nil && z.Origin != "." {
		return z.Origin, true
	}
	return "", false
}

// AddChallenge adds a TXT record with value at name, an _acme-challenge
// name inside a zone levee serves.
func (s *Server) AddChallenge(name, value string) error {
	name = mdns.Fqdn(strings.ToLower(name))
	if !strings.HasPrefix(name, challengeLabel) {
		s.m.challenges.WithLabelValues("rejected").Inc()
		return errChallengeName
	}
	if _, ok := s.ZoneOf(name); !ok {
		s.m.challenges.WithLabelValues("rejected").Inc()
		return fmt.Errorf("%s is in no zone this node serves", name)
	}
	c := &s.chal
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.expireLocked(now, s.m.challenges.WithLabelValues("expired").Inc)
	for i := range c.recs {
		if c.recs[i].name == name && c.recs[i].value == value {
			c.recs[i].until = now.Add(challengeLife)
			return nil
		}
	}
	if len(c.recs) >= maxChallenges {
		s.m.challenges.WithLabelValues("rejected").Inc()
		s.log.Warn("dns: ACME challenge record refused: the set is full", "name", name, "bound", maxChallenges)
		return errChallengesFull
	}
	c.recs = append(c.recs, challenge{name: name, value: value, until: now.Add(challengeLife)})
	c.active.Store(int32(len(c.recs)))
	s.m.challenges.WithLabelValues("added").Inc()
	return nil
}

// RemoveChallenge removes the TXT record with value at name.
func (s *Server) RemoveChallenge(name, value string) {
	name = mdns.Fqdn(strings.ToLower(name))
	c := &s.chal
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.recs {
		if c.recs[i].name == name && c.recs[i].value == value {
			c.recs = append(c.recs[:i], c.recs[i+1:]...)
			s.m.challenges.WithLabelValues("removed").Inc()
			break
		}
	}
	c.active.Store(int32(len(c.recs)))
}

func (c *challenges) expireLocked(now time.Time, expired func()) {
	kept := c.recs[:0]
	for _, r := range c.recs {
		if now.Before(r.until) {
			kept = append(kept, r)
		} else {
			expired()
		}
	}
	clear(c.recs[len(kept):])
	c.recs = kept
	c.active.Store(int32(len(c.recs)))
}

// values returns the TXT values at name that have not expired.
func (c *challenges) values(name string, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.recs {
		if r.name == name && now.Before(r.until) {
			out = append(out, r.value)
		}
	}
	return out
}

// challengeAnswer answers a query for a name holding challenge records:
// the TXT records (unsigned), or NODATA for another type; nil for any
// other query, which goes the usual way. It runs only while records
// exist, so it may allocate.
func (s *Server) challengeAnswer(v *view, w *worker, q []byte) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || be16(q[4:]) != 1 {
		return nil
	}
	name, off, err := mdns.UnpackDomainName(q, 12)
	if err != nil || off+4 > len(q) || be16(q[off+2:]) != mdns.ClassINET {
		return nil
	}
	name = strings.ToLower(name)
	if !strings.HasPrefix(name, challengeLabel) {
		return nil
	}
	vals := s.chal.values(name, time.Now())
	if len(vals) == 0 {
		return nil
	}
	req := new(mdns.Msg)
	if err := req.Unpack(q); err != nil || req.Opcode != mdns.OpcodeQuery {
		return nil
	}
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	qtype := req.Question[0].Qtype
	if qtype == mdns.TypeTXT || qtype == mdns.TypeANY {
		for _, val := range vals {
			resp.Answer = append(resp.Answer, &mdns.TXT{Hdr: mdns.RR_Header{Name: req.Question[0].Name,
				Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: challengeTTL}, Txt: []string{val}})
		}
	} else if z := v.zones.findName(name); z != nil {
		resp.Ns = append(resp.Ns, z.soa)
	}
	if opt, bad := requestOPT(req); opt != nil && !bad {
		resp.SetEdns0(uint16(v.udpSize()), false)
	}
	b, err := resp.PackBuffer(w.out)
	if err != nil {
		return nil
	}
	return b
}
