package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"

	mdns "github.com/miekg/dns"

	"levee/internal/config/schema"
)

// Health is what steered answers read: the health checker's view of one
// origin of a named pool. app.Node's HealthState satisfies it.
type Health interface {
	HealthState(pool, originURL string) (healthy, known bool)
}

// member is one address a steered name may answer with.
type member struct {
	key    string // pool + " " + origin URL: the health key
	pool   string
	url    string
	addr   netip.Addr
	weight int
}

// steerPool is a pool as DNS sees it: its members by address family.
type steerPool struct {
	name    string
	members []member
}

// prefer is a pool preferred for clients inside some networks.
type prefer struct {
	pool *steerPool
	nets []netip.Prefix
}

// steer is a health-steered name of a zone.
type steer struct {
	owner    string // lowercase presentation
	ttl      uint32
	policy   string
	allDown  string
	primary  *steerPool
	fallback *steerPool
	cname    string
	prefer   []prefer
}

// Steered answer states, the label of levee_dns_steered_answers_total.
const (
	statePreferred = "preferred"
	statePrimary   = "primary"
	stateFallback  = "fallback"
	stateCNAME     = "cname"
	stateAllDown   = "all_down"
	stateNoData    = "nodata"
)

// newSteer builds a steered name from its config and the pools.
func newSteer(origin string, sc *SteerConfig, pools schema.Pools, edge string) (*steer, error) {
	s := &steer{ttl: uint32(sc.TTL.D().Seconds()), policy: sc.Policy, allDown: sc.AllDown}
	s.owner = absName(sc.Name, origin)
	if !mdns.IsSubDomain(origin, s.owner) {
		return nil, fmt.Errorf("steer %q is outside the zone %s", sc.Name, origin)
	}
	var err error
	primary := sc.Pool
	if sc.Mode == "proxied" {
		primary = edge
	}
	if s.primary, err = buildSteerPool(primary, pools); err != nil {
		return nil, err
	}
	if sc.FallbackPool != "" {
		if s.fallback, err = buildSteerPool(sc.FallbackPool, pools); err != nil {
			return nil, err
		}
	}
	if sc.FallbackCNAME != "" {
		s.cname = absName(sc.FallbackCNAME, origin)
	}
	for _, pc := range sc.Prefer {
		p := prefer{}
		if p.pool, err = buildSteerPool(pc.Pool, pools); err != nil {
			return nil, err
		}
		for _, n := range pc.Networks {
			pfx, err := schema.ParsePrefix(n)
			if err != nil {
				return nil, err
			}
			p.nets = append(p.nets, pfx)
		}
		s.prefer = append(s.prefer, p)
	}
	return s, nil
}

// absName makes a zone-relative name ("www", "@") absolute and lowercase.
func absName(name, origin string) string {
	name = strings.ToLower(name)
	switch {
	case name == "@":
		return origin
	case strings.HasSuffix(name, "."):
		return name
	}
	return name + "." + origin
}

func buildSteerPool(name string, pools schema.Pools) (*steerPool, error) {
	pc, ok := pools[name]
	if !ok {
		return nil, fmt.Errorf("no pool named %q", name)
	}
	sp := &steerPool{name: name}
	for _, o := range pc.Origins {
		u, err := url.Parse(o.URL)
		if err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil {
			return nil, fmt.Errorf("pool %s: origin %s: host is not an IP address", name, o.URL)
		}
		sp.members = append(sp.members, member{key: name + " " + o.URL, pool: name, url: o.URL, addr: a.Unmap(), weight: max(o.Weight, 1)})
	}
	return sp, nil
}

// steered is one computed answer of a steered name: the alternatives a
// query picks from (one per rotation or per weighted member), or a CNAME.
type steered struct {
	state   string
	alts    [][]mdns.RR
	weights []int // nil: alternatives are equally likely
	cname   string
}

// pick chooses an alternative by weight (the slow path; the answer cache
// keeps the same weights as cumulative sums in its template).
func (st *steered) pick() int {
	if len(st.alts) < 2 {
		return 0
	}
	sum := 0
	for _, w := range st.weights {
		sum += w
	}
	if sum <= 0 {
		return rand.IntN(len(st.alts))
	}
	r := rand.IntN(sum)
	for i, w := range st.weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(st.alts) - 1
}

// answer computes the answer for qtype (A or AAAA) given which members are
// up, and the client's address for prefer (invalid: none known).
func (s *steer) answer(qtype uint16, up func(*member) bool, client netip.Addr) steered {
	v4 := qtype == mdns.TypeA
	if client.IsValid() {
		for _, p := range s.prefer {
			if containsAddr(p.nets, client) {
				if ms := healthyOf(p.pool, v4, up); len(ms) > 0 {
					return s.pick(ms, statePreferred, qtype)
				}
			}
		}
	}
	all := familyOf(s.primary, v4)
	if len(all) == 0 {
		return steered{state: stateNoData}
	}
	if ms := healthyOf(s.primary, v4, up); len(ms) > 0 {
		return s.pick(ms, statePrimary, qtype)
	}
	if s.fallback != nil {
		if ms := healthyOf(s.fallback, v4, up); len(ms) > 0 {
			return s.pick(ms, stateFallback, qtype)
		}
	}
	if s.cname != "" {
		return steered{state: stateCNAME, cname: s.cname}
	}
	if s.allDown == "nodata" {
		return steered{state: stateNoData}
	}
	st := s.pick(all, stateAllDown, qtype)
	return st
}

// maxRotations bounds the alternatives of an "all" answer.
const maxRotations = 8

// pick applies the policy to the members chosen.
func (s *steer) pick(ms []*member, state string, qtype uint16) steered {
	st := steered{state: state}
	switch s.policy {
	case "failover":
		st.alts = [][]mdns.RR{{s.rr(ms[0], qtype)}}
	case "weighted":
		for _, m := range ms {
			st.alts = append(st.alts, []mdns.RR{s.rr(m, qtype)})
			st.weights = append(st.weights, m.weight)
		}
	default:
		for r := 0; r < min(len(ms), maxRotations); r++ {
			set := make([]mdns.RR, 0, len(ms))
			for i := range ms {
				set = append(set, s.rr(ms[(r+i)%len(ms)], qtype))
			}
			st.alts = append(st.alts, set)
		}
	}
	return st
}

func (s *steer) rr(m *member, qtype uint16) mdns.RR {
	h := mdns.RR_Header{Name: s.owner, Rrtype: qtype, Class: mdns.ClassINET, Ttl: s.ttl}
	if qtype == mdns.TypeA {
		return &mdns.A{Hdr: h, A: m.addr.AsSlice()}
	}
	return &mdns.AAAA{Hdr: h, AAAA: m.addr.AsSlice()}
}

func familyOf(p *steerPool, v4 bool) []*member {
	var out []*member
	for i := range p.members {
		if p.members[i].addr.Is4() == v4 {
			out = append(out, &p.members[i])
		}
	}
	return out
}

func healthyOf(p *steerPool, v4 bool, up func(*member) bool) []*member {
	var out []*member
	for _, m := range familyOf(p, v4) {
		if up(m) {
			out = append(out, m)
		}
	}
	return out
}

func containsAddr(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// pools lists every steer pool of s, for the health tracker.
func (s *steer) pools() []*steerPool {
	out := []*steerPool{s.primary}
	if s.fallback != nil {
		out = append(out, s.fallback)
	}
	for _, p := range s.prefer {
		out = append(out, p.pool)
	}
	return out
}
