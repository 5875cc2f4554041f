package dns

import (
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// transferZone returns the zone a transfer asks for and the rcode to refuse
// it with (0 when it may go): FORMERR for an IXFR without the client's SOA,
// NOTAUTH for a zone not served, REFUSED for a client that is not one of its
// secondaries.
func (v *view) transferZone(req *mdns.Msg, client netip.Addr) (*Zone, int) {
	q := req.Question[0]
	if _, ok := ixfrSerial(req); q.Qtype == mdns.TypeIXFR && !ok {
		return nil, mdns.RcodeFormatError
	}
	var z *Zone
	if v != nil {
		z = v.zones.byName[strings.ToLower(q.Name)]
	}
	switch {
	case z == nil:
		return nil, mdns.RcodeNotAuth
	case !z.allows(client):
		return nil, mdns.RcodeRefused
	}
	return z, 0
}

// ixfrSerial returns the serial of the SOA an IXFR query carries in its
// authority section (RFC 1995 section 3): the client's version.
func ixfrSerial(req *mdns.Msg) (uint32, bool) {
	if len(req.Ns) != 1 {
		return 0, false
	}
	soa, ok := req.Ns[0].(*mdns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

// transferRecords returns what a transfer of z sends: for an IXFR from a
// client whose serial is the zone's or newer (RFC 1982 arithmetic), the
// single current SOA (RFC 1995 section 2); otherwise the whole zone, SOA
// first and last. No journal of changes is kept, so an IXFR from an older
// serial gets the whole zone, as RFC 1995 section 4 allows.
func transferRecords(z *Zone, req *mdns.Msg) []mdns.RR {
	if serial, ok := ixfrSerial(req); ok && req.Question[0].Qtype == mdns.TypeIXFR && int32(serial-z.Serial) >= 0 {
		return []mdns.RR{z.soa}
	}
	return append(append(make([]mdns.RR, 0, len(z.static)+1), z.static...), z.soa)
}

// transfer sends a zone over TCP (AXFR, or IXFR answered as above) to a
// configured secondary; anyone else is refused. Steered names are not
// transferred: they are answered only here, from health.
func (s *Server) transfer(c net.Conn, req *mdns.Msg, client netip.Addr) {
	z, rcode := s.view.Load().transferZone(req, client)
	if z == nil {
		s.m.axfr.WithLabelValues("refused").Inc()
		_ = writeTCPMsg(c, errorMsg(req, rcode))
		return
	}
	const perMessage = 100
	rrs := transferRecords(z, req)
	for i := 0; i < len(rrs); i += perMessage {
		m := new(mdns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.Compress = true
		m.Answer = rrs[i:min(i+perMessage, len(rrs))]
		if err := writeTCPMsg(c, m); err != nil {
			s.m.axfr.WithLabelValues("error").Inc()
			return
		}
	}
	s.m.axfr.WithLabelValues("ok").Inc()
}

// allows reports whether client is one of the zone's secondaries.
func (z *Zone) allows(client netip.Addr) bool {
	for _, s := range z.secondaries {
		if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Unmap() == client {
			return true
		}
	}
	return false
}

// notifyChanged sends NOTIFY for every zone that is new or whose content
// changed, to its secondaries, in the background with bounded retries.
func (s *Server) notifyChanged(old, cur *Zones) {
	for _, z := range cur.zones {
		if len(z.secondaries) == 0 {
			continue
		}
		if old != nil {
			if o := old.byName[z.Origin]; o != nil && o.Hash == z.Hash {
				continue
			}
		}
		for _, sec := range z.secondaries {
			s.wall.Go("dns-notify", func() { s.notify(z, sec) })
		}
	}
}

// notify sends one NOTIFY (RFC 1996) and waits for its answer, retrying up
// to three times.
func (s *Server) notify(z *Zone, addr string) {
	m := new(mdns.Msg)
	m.SetNotify(z.Origin)
	m.Authoritative = true
	m.Answer = []mdns.RR{z.soa}
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	for attempt := 0; attempt < 3; attempt++ {
		select {
		case <-s.stop:
			return
		default:
		}
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Rcode == mdns.RcodeSuccess {
			s.m.notify.WithLabelValues("ok").Inc()
			return
		}
		s.log.Warn("dns: notify failed", "zone", z.Origin, "to", addr, "err", err)
	}
	s.m.notify.WithLabelValues("error").Inc()
}
