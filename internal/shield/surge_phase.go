package shield

import (
	"math"
	"time"
)

// surgeConfig compiles shield.surge.
func surgeConfig(g *SurgeConfig) *surgeCfg {
	interval := clampNS(float64(time.Second) / g.Rate.PerSecond())
	return &surgeCfg{action: g.Action, rateNS: interval, burstNS: clampNS(float64(interval) * math.Max(1, g.Rate.PerSecond())),
		minShare: g.MinShare, rise: g.Rise, jump: g.Jump, window: g.Window.D(), sampleMask: uint64(g.Sample - 1),
		maxRules: g.MaxRules, lifetime: g.Lifetime.D(), minWindowSample: 16}
}

// surgeStep profiles a sample of the requests and applies the generated
// rules. With no rule in force, an unsampled request costs an atomic add.
func (s *Shield) surgeStep(q *req) error {
	c := s.surge
	if c == nil {
		return nil
	}
	sg := s.st.surge
	sampled := sg.shouldSample(c)
	rules := *sg.rules.Load()
	if !sampled && len(rules) == 0 {
		return nil
	}
	fp := sg.fingerprint(q.r, q.ex.TLSFingerprint)
	if sampled {
		sg.observe(c, fp, q.client(s.st.seed), q.r, q.ex.TLSFingerprint, s.saturated(q), q.now)
	}
	if len(rules) == 0 {
		return nil
	}
	r := sg.match(fp, q.now)
	if r == nil || q.allowed || q.keep || s.st.rep.Good(q.client(s.st.seed), q.now) {
		return nil
	}
	if r.allow(c, q.now.Sub(s.st.start).Nanoseconds()) {
		return nil
	}
	r.hits.Add(1)
	q.ex.Decide(r.decision)
	return s.act(q, "surge", c.action, r.id, 1)
}

// saturated reports whether the request's pool is queueing or shedding.
func (s *Shield) saturated(q *req) bool {
	if !s.admission || len(q.ex.Route.Pools) == 0 {
		return false
	}
	lim := s.limiters[q.ex.Route.Pools[0].Name]
	return lim != nil && (lim.Queued() > 0 || lim.ShedRecently(q.now, time.Second))
}
