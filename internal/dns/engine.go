package dns

import (
	"net/netip"

	mdns "github.com/miekg/dns"
)

// worker is one socket reader's scratch space, reused for every packet so
// the hot path does not allocate.
type worker struct {
	p       query
	gkey    []byte
	scratch []byte
	out     []byte
	in      []byte // a TCP query, packed again from miekg's message
}

func newWorker() *worker {
	return &worker{p: query{key: make([]byte, 0, 260)}, gkey: make([]byte, 0, 260),
		scratch: make([]byte, 0, 260), out: make([]byte, 0, 65535)}
}

// respond answers one query packet; nil means send nothing. It runs behind
// the panic wall: a panic costs that query a SERVFAIL and is counted.
func (s *Server) respond(w *worker, q []byte, client netip.Addr, tcp bool) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.wall.Record("dns", r)
			out = nil
			if len(q) >= 12 && q[2]&0x80 == 0 {
				out = errorReply(w.out, q, 12, mdns.RcodeServerFailure)
				s.m.count(0, mdns.RcodeServerFailure, len(out))
			}
		}
	}()
	v := s.view.Load()
	if v != nil && s.chal.active.Load() > 0 {
		if out := s.challengeAnswer(v, w, q); out != nil {
			return s.finish(out, mdns.TypeTXT, client, tcp)
		}
	}
	p := &w.p
	switch parse(q, p) {
	case vDrop:
		s.m.malformed.Inc()
		return nil
	case vSlow, vNotImp: // NOTIMP via the full parser, to echo an OPT
		return s.slow(v, w, q, client, tcp)
	case vFormErr:
		out = errorReply(w.out, q, 12, mdns.RcodeFormatError)
		return s.finish(out, 0, client, tcp)
	}
	if v == nil {
		return s.finish(errorReply(w.out, q, p.qend, mdns.RcodeRefused), p.qtype, client, tcp)
	}
	if hook := s.testPanic.Load(); hook != nil {
		(*hook)(p.key)
	}
	t := v.cache.get(p.key)
	if t == nil {
		if t = s.miss(v, w, p, client); t == nil {
			return s.finish(errorReply(w.out, q, p.qend, mdns.RcodeServerFailure), p.qtype, client, tcp)
		}
	}
	if t.steered != nil {
		t.steered.Inc()
	}
	out = t.write(w.out, q, p.qend)
	if !tcp {
		if limit := min(p.udpSize, v.zones.udpSize); len(out) > limit {
			s.m.truncated.Inc()
			out = truncated(out, p.qend, p.fl, v.zones.udpSize)
		}
	}
	return s.finish(out, p.qtype, client, tcp)
}

// finish counts an answer and applies response rate limiting to UDP ones.
func (s *Server) finish(out []byte, qtype uint16, client netip.Addr, tcp bool) []byte {
	return s.finishRcode(out, qtype, int(out[3]&0xF), client, tcp)
}

// finishRcode is finish for an answer whose rcode is extended (BADVERS):
// its upper bits are in the OPT record, not the header.
func (s *Server) finishRcode(out []byte, qtype uint16, rcode int, client netip.Addr, tcp bool) []byte {
	if !tcp {
		if r := s.rrl.Load(); r != nil {
			switch r.check(client, responseClass(out, rcode)) {
			case rrlDrop:
				s.m.rrl.WithLabelValues("drop").Inc()
				return nil
			case rrlSlip:
				s.m.rrl.WithLabelValues("slip").Inc()
				qend := questionEnd(out)
				out = out[:qend]
				out[2] |= 0x02
				clear(out[6:12])
			}
		}
	}
	s.m.count(qtype, rcode, len(out))
	return out
}

// questionEnd finds the end of a well-formed answer's question section.
func questionEnd(b []byte) int {
	if be16(b[4:]) == 0 {
		return 12
	}
	off := 12
	for off < len(b) && b[off] != 0 {
		if b[off]&0xC0 != 0 {
			off += 2
			return min(off+4, len(b))
		}
		off += int(b[off]) + 1
	}
	return min(off+5, len(b))
}

// responseClass groups answers for RRL: 0 positive, 1 negative, 2 error.
func responseClass(out []byte, rc int) uint8 {
	switch {
	case rc == mdns.RcodeSuccess && be16(out[6:]) > 0:
		return 0
	case rc == mdns.RcodeSuccess || rc == mdns.RcodeNameError:
		return 1
	}
	return 2
}

// miss builds (and caches) the template for a query not in the cache.
func (s *Server) miss(v *view, w *worker, p *query, client netip.Addr) *tmpl {
	name := p.key[:p.nameLen]
	z := v.zones.findWire(name)
	if z == nil {
		return s.generic(v, w, 'R', nil, p)
	}
	if (p.fl&fDO == 0 || z.signer == nil) && z.isNX(name, w) {
		return s.generic(v, w, 'N', z, p)
	}
	qname, _, err := mdns.UnpackDomainName(name, 0)
	if err != nil {
		return nil
	}
	res := v.lookup(qname, p.qtype, client, p.fl&fDO != 0)
	t, err := v.template(res, qname, p.qtype, p.fl, false)
	if err != nil {
		s.log.Warn("dns: cannot pack an answer", "name", qname, "type", mdns.TypeToString[p.qtype], "err", err)
		return nil
	}
	// Answers chosen by the client's network are never cached.
	if !res.steerPrefer && !v.cache.put(p.key, t, res.perName) {
		s.m.cacheFull.Inc()
	}
	return t
}

// generic returns the name-independent template of kind 'N' (NXDOMAIN in
// zone z) or 'R' (REFUSED), building it once per view and flags.
func (s *Server) generic(v *view, w *worker, kind byte, z *Zone, p *query) *tmpl {
	w.gkey = append(w.gkey[:0], 0xFF, kind) // 0xFF starts no name: no clash with a name's key
	if z != nil {
		w.gkey = append(w.gkey, z.wire...)
	}
	w.gkey = append(w.gkey, byte(p.fl))
	if t := v.cache.get(w.gkey); t != nil {
		return t
	}
	res := &result{zone: z, rcode: mdns.RcodeRefused, steerAt: -1}
	if z != nil {
		res.aa, res.rcode, res.nxdomain = true, mdns.RcodeNameError, true
		res.ns = [][]mdns.RR{{z.soa}}
		res.nodataAt = z.Origin
	}
	t, err := v.template(res, ".", p.qtype, p.fl, true)
	if err != nil {
		return nil
	}
	v.cache.put(w.gkey, t, false)
	return t
}

// isNX reports, without allocating, whether name (lowercase wire form, in
// z) does not exist: no node, no wildcard covering it, and not at or below
// a delegation.
func (z *Zone) isNX(name []byte, w *worker) bool {
	apexOff := len(name) - len(z.wire)
	if apexOff <= 0 {
		return false
	}
	var offs [128]int
	n := 0
	for off := 0; off < apexOff && n < len(offs); off += int(name[off]) + 1 {
		offs[n] = off
		n++
	}
	ce := apexOff
	for i := n - 1; i >= 0; i-- {
		nd := z.nodes[string(name[offs[i]:])]
		if nd == nil {
			break
		}
		if nd.cut || offs[i] == 0 {
			return false
		}
		ce = offs[i]
	}
	w.scratch = append(append(w.scratch[:0], 1, '*'), name[ce:]...)
	_, wild := z.nodes[string(w.scratch)]
	return !wild
}

// template packs every alternative of res as an answer to qname/qtype.
func (v *view) template(res *result, qname string, qtype uint16, fl flags, generic bool) (*tmpl, error) {
	q := mdns.Question{Name: qname, Qtype: qtype, Qclass: mdns.ClassINET}
	t := &tmpl{qlen: len(wireName(qname)) + 4}
	alts := 1
	if res.steer != nil && res.steerAt >= 0 {
		alts = len(res.steer.alts)
	}
	for alt := 0; alt < alts; alt++ {
		m, err := v.message(res, q, fl, alt)
		if err != nil {
			return nil, err
		}
		m.Compress = !generic
		b, err := m.Pack()
		if err != nil {
			return nil, err
		}
		t.variants = append(t.variants, b)
	}
	if res.steer != nil {
		if res.steer.weights != nil && res.steerAt >= 0 {
			var sum uint32
			for _, w := range res.steer.weights {
				sum += uint32(w)
				t.cum = append(t.cum, sum)
			}
		}
		t.steered = v.m.steered.WithLabelValues(res.steer.state)
	}
	return t, nil
}
