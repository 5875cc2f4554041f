package dns

import (
	"net/netip"
	"slices"

	mdns "github.com/miekg/dns"
)

// result is the authoritative answer to one question, before it is packed:
// RRsets by section, so that signing can go set by set.
type result struct {
	zone     *Zone
	rcode    int
	aa       bool
	answer   [][]mdns.RR
	ns       [][]mdns.RR
	extra    [][]mdns.RR
	nodata   *node  // the node a NODATA answer is about (for NSEC)
	nodataAt string // its owner as asked (wildcards: the query name)
	nxdomain bool
	cut      *node // the delegation of a referral
	perName  bool  // depends on the exact query name (wildcard, NXDOMAIN)
	steer    *steered
	steerAt  int // index in answer of the steered RRset
	// steerPrefer: the steered name has prefer rules, so the answer
	// depends on the client's network (ECS scope).
	steerPrefer bool
	// sigsOnly: the answer of an RRSIG question; its sets are signed and
	// only the signatures sent.
	sigsOnly bool
}

// maxChain bounds CNAME hops followed inside a zone.
const maxChain = 8

// lookup answers qname (lowercase, absolute) and qtype from the zones.
// client is the address steering prefers by (invalid when unknown); do
// is the query's DO bit.
func (v *view) lookup(qname string, qtype uint16, client netip.Addr, do bool) *result {
	z := v.zones.findName(qname)
	res := &result{zone: z, steerAt: -1}
	if z == nil {
		res.rcode = mdns.RcodeRefused
		return res
	}
	res.aa = true
	// Signed online, every name (existing or not: black lies) has an NSEC,
	// made when asked; so it has an NSEC and RRSIGs to answer with.
	signedNames := do && z.signer != nil && (qtype == mdns.TypeNSEC || qtype == mdns.TypeRRSIG)
	name := qname
	seen := map[string]bool{}
	for hop := 0; hop < maxChain && !seen[name]; hop++ {
		seen[name] = true
		if cut := z.cutAbove(name, qtype); cut != nil {
			v.referral(res, z, cut, hop)
			return res
		}
		n, wild := z.nodes[wireName(name)], false
		if n == nil {
			if n = z.wildcard(name); n == nil && signedNames {
				res.perName = true
				v.dnssecAtName(res, z, nil, name, qtype, false)
				return res
			} else if n == nil {
				// RFC 6604: the rcode is that of the last name in a chain.
				res.perName, res.rcode, res.nxdomain, res.nodataAt = true, mdns.RcodeNameError, true, name
				res.ns = append(res.ns, []mdns.RR{z.soa})
				return res
			}
			wild, res.perName = true, true
		}
		if qtype == mdns.TypeANY {
			res.answer = append(res.answer, []mdns.RR{&mdns.HINFO{
				Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeHINFO, Class: mdns.ClassINET, Ttl: 3600}, Cpu: "RFC8482"}})
			return res
		}
		if signedNames {
			v.dnssecAtName(res, z, n, name, qtype, wild)
			return res
		}
		if cn := n.sets[mdns.TypeCNAME]; len(cn) > 0 && !atCNAMEOwner(qtype) {
			res.answer = append(res.answer, own(cn, name, wild))
			target := cn[0].(*mdns.CNAME).Target
			if !mdns.IsSubDomain(z.Origin, target) {
				return res
			}
			name = target
			continue
		}
		if v.answerNode(res, z, n, name, qtype, wild, client) {
			return res
		}
		res.nodata, res.nodataAt = n, name
		res.ns = append(res.ns, []mdns.RR{z.soa})
		return res
	}
	return res
}

// atCNAMEOwner reports whether records of qtype live beside a CNAME, so a
// question for them is answered at the owner and the CNAME is not followed
// (RFC 2181 section 10.1, RFC 4035 section 2.5; BIND's "atcname" types).
func atCNAMEOwner(qtype uint16) bool {
	switch qtype {
	case mdns.TypeCNAME, mdns.TypeRRSIG, mdns.TypeNSEC, mdns.TypeKEY, mdns.TypeSIG, mdns.TypeNXT:
		return true
	}
	return false
}

// dnssecAtName answers an NSEC question with the name's NSEC (n nil: a
// name that does not exist, whose black-lie NSEC has only RRSIG and NSEC),
// and an RRSIG question with the sets whose signatures are the answer
// (signed, then only the signatures sent: see sigsOnly).
func (v *view) dnssecAtName(res *result, z *Zone, n *node, name string, qtype uint16, wild bool) {
	nsec := z.signer.nsec(name, nodeTypes(n, 0), z.minTTL())
	if qtype == mdns.TypeNSEC {
		res.answer = append(res.answer, []mdns.RR{nsec})
		return
	}
	res.sigsOnly = true
	if n != nil {
		res.answer = append(res.answer, v.ownerSets(n, name, wild)...)
	}
	res.answer = append(res.answer, []mdns.RR{nsec})
}

// ownerSets returns every RRset at n, in type order. A steered name's
// addresses are those answered to a client that no prefer rule matches,
// so the answer does not depend on the client.
func (v *view) ownerSets(n *node, name string, wild bool) [][]mdns.RR {
	types := make([]uint16, 0, len(n.sets))
	for t := range n.sets {
		types = append(types, t)
	}
	slices.Sort(types)
	var out [][]mdns.RR
	for _, t := range types {
		out = append(out, own(n.sets[t], name, wild))
	}
	if n.steer == nil {
		return out
	}
	for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
		switch st := n.steer.answer(t, v.up, netip.Addr{}); {
		case st.cname != "":
			cn := &mdns.CNAME{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: n.steer.ttl}, Target: st.cname}
			if t == mdns.TypeA {
				out = append(out, []mdns.RR{cn})
			}
		case len(st.alts) > 0:
			out = append(out, own(st.alts[0], name, st.alts[0][0].Header().Name != name))
		}
	}
	return out
}

// answerNode adds n's records of qtype to res and reports whether it had any.
func (v *view) answerNode(res *result, z *Zone, n *node, name string, qtype uint16, wild bool, client netip.Addr) bool {
	if n.steer != nil && (qtype == mdns.TypeA || qtype == mdns.TypeAAAA) {
		st := n.steer.answer(qtype, v.up, client)
		res.steerPrefer = len(n.steer.prefer) > 0
		switch {
		case st.cname != "":
			cn := &mdns.CNAME{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: n.steer.ttl}, Target: st.cname}
			res.answer = append(res.answer, []mdns.RR{cn})
			res.steer = &st
			return true
		case len(st.alts) > 0:
			res.steerAt = len(res.answer)
			res.answer = append(res.answer, own(st.alts[0], name, wild))
			res.steer = &st
			return true
		}
		res.steer = &st
		return false
	}
	rrs := n.sets[qtype]
	if len(rrs) == 0 {
		return false
	}
	res.answer = append(res.answer, own(rrs, name, wild))
	if qtype == mdns.TypeNS || qtype == mdns.TypeMX || qtype == mdns.TypeSRV {
		res.extra = append(res.extra, z.glue(rrs)...)
	}
	return true
}

// referral answers with the delegation's NS records and in-zone glue.
func (v *view) referral(res *result, z *Zone, cut *node, hop int) {
	if hop == 0 {
		res.aa = false
	}
	ns := cut.sets[mdns.TypeNS]
	res.cut = cut
	res.ns = append(res.ns, ns)
	res.extra = append(res.extra, z.glue(ns)...)
}

// cutAbove returns the delegation at or above name (below the apex), if
// any. A DS question at the cut itself is the parent's to answer.
func (z *Zone) cutAbove(name string, qtype uint16) *node {
	idx := mdns.Split(name)
	for i := len(idx) - 1; i >= 0; i-- {
		suffix := name[idx[i]:]
		if len(suffix) <= len(z.Origin) {
			continue
		}
		n := z.nodes[wireName(suffix)]
		if n == nil {
			return nil
		}
		if n.cut && !(qtype == mdns.TypeDS && suffix == name) {
			return n
		}
	}
	return nil
}

// wildcard returns the wildcard node that covers name (RFC 4592): the
// "*" child of name's closest encloser, if it exists.
func (z *Zone) wildcard(name string) *node {
	idx := mdns.Split(name)
	for i := 1; i < len(idx); i++ {
		suffix := name[idx[i]:]
		if len(suffix) < len(z.Origin) {
			return nil
		}
		if _, ok := z.nodes[wireName(suffix)]; ok {
			return z.nodes[wireName("*."+suffix)]
		}
	}
	return nil
}

// glue returns the in-zone A and AAAA records of the targets of rrs.
func (z *Zone) glue(rrs []mdns.RR) [][]mdns.RR {
	var out [][]mdns.RR
	for _, rr := range rrs {
		var target string
		switch r := rr.(type) {
		case *mdns.NS:
			target = r.Ns
		case *mdns.MX:
			target = r.Mx
		case *mdns.SRV:
			target = r.Target
		}
		n := z.nodes[wireName(target)]
		if n == nil || !mdns.IsSubDomain(z.Origin, n.name) {
			continue
		}
		for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			if set := n.sets[t]; len(set) > 0 {
				out = append(out, set)
			}
		}
	}
	return out
}

// own returns rrs, or for a wildcard match copies owned by name.
func own(rrs []mdns.RR, name string, wild bool) []mdns.RR {
	if !wild {
		return rrs
	}
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		c.Header().Name = name
		out[i] = c
	}
	return out
}
