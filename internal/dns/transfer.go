package dns

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// tcpHandler answers queries that came over TCP: zone transfers here,
// everything else through the same path as UDP (without size limit or RRL).
type tcpHandler struct {
	s     *Server
	pool  sync.Pool
	pools sync.Once
}

// ServeDNS implements mdns.Handler.
func (h *tcpHandler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	s := h.s
	client := addrOf(w.RemoteAddr())
	if len(req.Question) == 1 && !req.Response && req.Opcode == mdns.OpcodeQuery &&
		(req.Question[0].Qtype == mdns.TypeAXFR || req.Question[0].Qtype == mdns.TypeIXFR) {
		s.wall.Run("dns-axfr", func() { s.transfer(w, req, client) })
		return
	}
	h.pools.Do(func() { h.pool.New = func() any { return newWorker() } })
	wk := h.pool.Get().(*worker)
	defer h.pool.Put(wk)
	b, err := req.PackBuffer(wk.in[:0])
	if err != nil {
		m := errorMsg(req, mdns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	wk.in = b[:0]
	if out := s.respond(wk, b, client, true); out != nil {
		_, _ = w.Write(out)
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// transfer sends a zone by AXFR (an IXFR is answered with the full zone) to
// a configured secondary; anyone else is refused. Steered names are not
// transferred: they are answered only here, from health.
func (s *Server) transfer(w mdns.ResponseWriter, req *mdns.Msg, client netip.Addr) {
	v := s.view.Load()
	q := req.Question[0]
	var z *Zone
	if v != nil {
		z = v.zones.byName[strings.ToLower(q.Name)]
	}
	if z == nil || !z.allows(client) {
		s.m.axfr.WithLabelValues("refused").Inc()
		m := errorMsg(req, mdns.RcodeRefused)
		if z == nil {
			m.Rcode = mdns.RcodeNotAuth
		}
		_ = w.WriteMsg(m)
		return
	}
	ch := make(chan *mdns.Envelope)
	tr := new(mdns.Transfer)
	errc := make(chan error, 1)
	s.wall.Go("dns-axfr-out", func() {
		err := errAXFROutPanicked
		// Sent even when Out panics, so the loop below never waits forever.
		defer func() { errc <- err }()
		err = tr.Out(w, req, ch)
	})
	const perEnvelope = 100
	rrs := append(append([]mdns.RR(nil), z.static...), z.soa)
	for i := 0; i < len(rrs); i += perEnvelope {
		select {
		case ch <- &mdns.Envelope{RR: rrs[i:min(i+perEnvelope, len(rrs))]}:
		case <-errc:
			s.m.axfr.WithLabelValues("error").Inc()
			return
		}
	}
	close(ch)
	if err := <-errc; err != nil {
		s.m.axfr.WithLabelValues("error").Inc()
		return
	}
	s.m.axfr.WithLabelValues("ok").Inc()
}

var errAXFROutPanicked = errors.New("zone transfer writer panicked")

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

var _ mdns.Handler = (*tcpHandler)(nil)
