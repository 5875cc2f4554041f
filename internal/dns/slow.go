package dns

import (
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// slow answers what the fast parser left aside (EDNS Client Subnet, odd
// classes and types, EDNS versions, extra sections) with miekg's full
// parser. It allocates, and its answers are not cached.
func (s *Server) slow(v *view, w *worker, q []byte, client netip.Addr, tcp bool) []byte {
	req := new(mdns.Msg)
	// miekg stops quietly at the end of a message whose header counts more
	// records than it holds; that message is malformed all the same.
	if err := req.Unpack(q); err != nil || len(req.Question) != int(be16(q[4:])) || len(req.Answer) != int(be16(q[6:])) ||
		len(req.Ns) != int(be16(q[8:])) || len(req.Extra) != int(be16(q[10:])) {
		return s.finish(errorReply(w.out, q, 12, mdns.RcodeFormatError), 0, client, tcp)
	}
	resp, qtype, limit := s.slowAnswer(v, req, client)
	if resp == nil {
		return nil
	}
	if !tcp {
		if limit = min(limit, v.udpSize()); resp.Len() > limit {
			resp.Truncate(limit)
			s.m.truncated.Inc()
		}
	}
	b, err := resp.PackBuffer(w.out)
	if err != nil {
		resp = errorMsg(req, mdns.RcodeServerFailure)
		if b, err = resp.PackBuffer(w.out); err != nil {
			return nil
		}
	}
	return s.finishRcode(b, qtype, resp.Rcode, client, tcp)
}

func (v *view) udpSize() int {
	if v == nil {
		return 512
	}
	return v.zones.udpSize
}

// slowAnswer decides the answer to a fully parsed query and the UDP size
// the client accepts.
func (s *Server) slowAnswer(v *view, req *mdns.Msg, client netip.Addr) (*mdns.Msg, uint16, int) {
	if req.Response {
		return nil, 0, 0
	}
	opt, bad := requestOPT(req)
	limit := 512
	if opt != nil && !bad {
		limit = max(int(opt.UDPSize()), 512)
	}
	// fail answers rcode, with an OPT when the query had a usable one
	// (RFC 6891 section 7).
	fail := func(rcode int) *mdns.Msg {
		m := errorMsg(req, rcode)
		if opt != nil && !bad {
			m.SetEdns0(uint16(v.udpSize()), opt.Do())
		}
		return m
	}
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	switch {
	case bad:
		return errorMsg(req, mdns.RcodeFormatError), qtype, limit
	case opt != nil && opt.Version() != 0:
		return fail(mdns.RcodeBadVers), qtype, limit
	case req.Opcode != mdns.OpcodeQuery:
		return fail(mdns.RcodeNotImplemented), qtype, limit
	case len(req.Question) != 1 || len(req.Answer) > 0 || len(req.Ns) > 0 && !(qtype == mdns.TypeIXFR && len(req.Ns) == 1):
		// An IXFR carries the client's SOA in its authority section.
		return fail(mdns.RcodeFormatError), qtype, limit
	}
	qq := req.Question[0]
	var fl flags
	if opt != nil {
		fl |= fEDNS
		if opt.Do() {
			fl |= fDO
		}
	}
	switch {
	case req.IsTsig() != nil:
		return fail(mdns.RcodeNotAuth), qq.Qtype, limit
	case qq.Qclass != mdns.ClassINET:
		return fail(mdns.RcodeRefused), qq.Qtype, limit
	case qq.Qtype == mdns.TypeIXFR:
		return s.udpIXFR(v, req, client, min(limit, v.udpSize()), fail), qq.Qtype, limit
	case qq.Qtype == mdns.TypeAXFR || qq.Qtype >= mdns.TypeTKEY && qq.Qtype < mdns.TypeANY || qq.Qtype == mdns.TypeOPT:
		return fail(mdns.RcodeNotImplemented), qq.Qtype, limit
	case v == nil:
		return fail(mdns.RcodeRefused), qq.Qtype, limit
	}
	ecs := subnetOf(opt)
	steerBy := client
	if ecs != nil {
		if !validSubnet(ecs) {
			return fail(mdns.RcodeFormatError), qq.Qtype, limit
		}
		a, _ := netip.AddrFromSlice(ecs.Address)
		steerBy = a.Unmap()
	}
	qname := strings.ToLower(qq.Name)
	res := v.lookup(qname, qq.Qtype, steerBy, fl&fDO != 0)
	alt := 0
	if res.steer != nil {
		alt = res.steer.pick()
	}
	m, err := v.message(res, mdns.Question{Name: qname, Qtype: qq.Qtype, Qclass: qq.Qclass}, fl, alt)
	if err != nil {
		return fail(mdns.RcodeServerFailure), qq.Qtype, limit
	}
	if res.steer != nil {
		v.m.steered.WithLabelValues(res.steer.state).Inc()
	}
	m.Id, m.RecursionDesired, m.CheckingDisabled = req.Id, req.RecursionDesired, req.CheckingDisabled
	m.Question[0] = qq
	m.Compress = true
	if ecs != nil {
		echoSubnet(m, ecs, res)
	}
	return m, qq.Qtype, limit
}

// udpIXFR answers an IXFR over UDP (RFC 1995 section 2): what a TCP
// transfer would send when it fits in size bytes, else the single current
// SOA, which tells the client to retry over TCP.
func (s *Server) udpIXFR(v *view, req *mdns.Msg, client netip.Addr, size int, fail func(int) *mdns.Msg) *mdns.Msg {
	z, rcode := v.transferZone(req, client)
	if z == nil {
		s.m.axfr.WithLabelValues("refused").Inc()
		return fail(rcode)
	}
	m := fail(mdns.RcodeSuccess)
	m.Authoritative, m.Compress = true, true
	m.Answer = transferRecords(z, req)
	if m.Len() > size {
		m.Answer = []mdns.RR{z.soa}
	}
	s.m.axfr.WithLabelValues("ok").Inc()
	return m
}

// requestOPT returns the query's OPT record; more than one is malformed.
func requestOPT(req *mdns.Msg) (*mdns.OPT, bool) {
	var opt *mdns.OPT
	for _, rr := range req.Extra {
		if o, ok := rr.(*mdns.OPT); ok {
			if opt != nil {
				return nil, true
			}
			opt = o
		}
	}
	return opt, false
}

func subnetOf(opt *mdns.OPT) *mdns.EDNS0_SUBNET {
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
			return e
		}
	}
	return nil
}

// validSubnet checks an ECS option as RFC 7871 section 7.1.2 asks.
func validSubnet(e *mdns.EDNS0_SUBNET) bool {
	switch e.Family {
	case 1:
		return e.SourceNetmask <= 32 && e.SourceScope == 0
	case 2:
		return e.SourceNetmask <= 128 && e.SourceScope == 0
	}
	return false
}

// echoSubnet returns the client's ECS option with a scope: the source
// prefix when the answer was chosen by network (a steered name with prefer
// rules), else 0 (the answer holds for every client).
func echoSubnet(m *mdns.Msg, ecs *mdns.EDNS0_SUBNET, res *result) {
	opt := m.IsEdns0()
	if opt == nil {
		return
	}
	scope := uint8(0)
	if res.steer != nil && res.steerPrefer {
		scope = ecs.SourceNetmask
	}
	opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: ecs.Family,
		SourceNetmask: ecs.SourceNetmask, SourceScope: scope, Address: ecs.Address})
}

// errorMsg is a header-only reply with rcode that echoes the question. Of
// the query's flags only RD is copied (RFC 1035 section 4.1.1), as
// errorReply does on the fast path: CD is the query's choice about data,
// which an error reply has none of.
func errorMsg(req *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative, m.CheckingDisabled = false, false
	if len(req.Question) > 1 {
		m.Question = nil
	}
	return m
}
