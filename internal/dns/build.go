package dns

import (
	mdns "github.com/miekg/dns"
)

// flags are the parts of a query, besides name and type, that change its
// answer: whether it had EDNS and asked for DNSSEC records (DO).
type flags uint8

const (
	fEDNS flags = 1 << iota
	fDO
)

// message turns a result into a response to q. alt picks the alternative of
// a steered RRset. DNSSEC records are added when the query set DO and the
// zone is signed.
func (v *view) message(res *result, q mdns.Question, fl flags, alt int) (*mdns.Msg, error) {
	m := &mdns.Msg{Question: []mdns.Question{q}}
	m.Response, m.Authoritative, m.Rcode = true, res.aa, res.rcode
	answer := res.answer
	if alt > 0 && res.steerAt >= 0 {
		answer = append([][]mdns.RR(nil), res.answer...)
		name := answer[res.steerAt][0].Header().Name
		alts := res.steer.alts[alt]
		answer[res.steerAt] = own(alts, name, alts[0].Header().Name != name)
	}
	var sg *signer
	if fl&fDO != 0 && res.zone != nil {
		sg = res.zone.signer
	}
	if sg == nil {
		m.Answer = flat(answer)
		m.Ns = flat(res.ns)
		m.Extra = flat(res.extra)
	} else if err := v.signed(m, res, answer, sg); err != nil {
		return nil, err
	}
	if fl&fEDNS != 0 {
		opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
		opt.SetUDPSize(uint16(v.zones.udpSize))
		if fl&fDO != 0 {
			opt.SetDo()
		}
		m.Extra = append(m.Extra, opt)
	}
	return m, nil
}

// signed fills m's sections with RRSIGs and NSEC denial proofs.
func (v *view) signed(m *mdns.Msg, res *result, answer [][]mdns.RR, sg *signer) error {
	add := func(dst *[]mdns.RR, set []mdns.RR) error {
		sig, err := sg.sign(set)
		if err != nil {
			return err
		}
		*dst = append(append(*dst, set...), sig)
		return nil
	}
	for _, set := range answer {
		if res.sigsOnly {
			sig, err := sg.sign(set)
			if err != nil {
				return err
			}
			m.Answer = append(m.Answer, sig)
			continue
		}
		if err := add(&m.Answer, set); err != nil {
			return err
		}
	}
	z := res.zone
	switch {
	case res.cut != nil:
		m.Ns = append(m.Ns, res.cut.sets[mdns.TypeNS]...)
		proof := res.cut.sets[mdns.TypeDS]
		if len(proof) == 0 {
			proof = []mdns.RR{sg.nsec(res.cut.name, []uint16{mdns.TypeNS}, z.minTTL())}
		}
		if err := add(&m.Ns, proof); err != nil {
			return err
		}
		m.Extra = flat(res.extra)
		return nil
	case res.nxdomain:
		// Black lie: the name exists with no data, so the answer is NOERROR
		// and the proof needs no signed chain of names.
		m.Rcode = mdns.RcodeSuccess
		fallthrough
	case res.nodata != nil:
		if err := add(&m.Ns, []mdns.RR{z.soa}); err != nil {
			return err
		}
		if err := add(&m.Ns, []mdns.RR{sg.nsec(res.nodataAt, nodeTypes(res.nodata, m.Question[0].Qtype), z.minTTL())}); err != nil {
			return err
		}
	}
	for _, set := range res.extra {
		if err := add(&m.Extra, set); err != nil {
			return err
		}
	}
	return nil
}

// nodeTypes lists the types a node answers, for its NSEC bitmap; never
// qtype, which a NODATA answer has just denied.
func nodeTypes(n *node, qtype uint16) []uint16 {
	if n == nil {
		return nil
	}
	out := make([]uint16, 0, len(n.sets)+2)
	for t := range n.sets {
		out = append(out, t)
	}
	if n.steer != nil {
		for _, m := range n.steer.primary.members {
			if m.addr.Is4() {
				out = append(out, mdns.TypeA)
			} else {
				out = append(out, mdns.TypeAAAA)
			}
		}
	}
	kept := out[:0]
	for _, t := range out {
		if t != qtype {
			kept = append(kept, t)
		}
	}
	return kept
}

func flat(sets [][]mdns.RR) []mdns.RR {
	var out []mdns.RR
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}
