package cluster

import (
	"fmt"
	"testing"
	"time"
)

// simNode is one node of the model: the version it runs, since when, and
// how it behaves on each version.
type simNode struct {
	name     string
	phaseMS  int64 // its heartbeat's offset
	applied  int64
	sinceMS  int64
	everBad  bool
	appliedN int // activations
}

// simVersion is how a version behaves on a node: its 5xx share and its
// panics per second, from some time after activation on (latent bugs).
type simVersion struct {
	errRate   float64
	panicsPS  float64
	latentMS  int64
	badOnNode func(name string) bool // nil: on every node
}

type simResult struct {
	reached      int           // nodes that ever ran the bad version
	decided      time.Duration // push to the rollback decision
	restored     time.Duration // push to the last node back on the good config
	rolledBack   bool
	finalVersion int64
	reason       string
}

// simulate rolls version 2 (bad) out over n nodes running version 1,
// every node ticking each heartbeat with its own phase, a fake clock and
// the real step, rollbackPlan and newPlan. Each node serves rps requests
// a second.
func simulate(n int, cfg RolloutConfig, bad simVersion, rps float64, horizon time.Duration) simResult {
	const hbMS = 1000
	nodes := make([]*simNode, n)
	names := make([]string, n)
	for i := range nodes {
		nodes[i] = &simNode{name: fmt.Sprintf("edge-%03d", i), phaseMS: int64(i*37%100) * 10, applied: 1}
		names[i] = nodes[i].name
	}
	plan := newPlan(2, 1, names, nil, cfg, false, "sim", 0)
	good := simVersion{errRate: 0.001}
	versionOf := func(v int64) simVersion {
		if v == 2 {
			return bad
		}
		return good
	}
	reports := map[string]Report{}
	var res simResult
	isBad := func(nd *simNode) bool { return nd.applied == 2 }
	for now := int64(0); now <= horizon.Milliseconds(); now += 10 {
		for i, nd := range nodes {
			if (now-nd.phaseMS)%hbMS != 0 || now < nd.phaseMS {
				continue
			}
			if t := plan.target(nd.name); t > nd.applied {
				nd.applied, nd.sinceMS = t, now
				nd.appliedN++
				if t == 2 {
					nd.everBad = true
				}
			}
			v := versionOf(nd.applied)
			secs := float64(now-nd.sinceMS) / 1000
			req := uint64(rps * secs)
			errs, panics := uint64(float64(req)*good.errRate), uint64(0)
			if nd.applied == 2 && (v.badOnNode == nil || v.badOnNode(nd.name)) {
				badSecs := max(0, float64(now-nd.sinceMS-v.latentMS)/1000)
				errs += uint64(rps * badSecs * v.errRate)
				panics = uint64(badSecs * v.panicsPS)
			}
			r := Report{Node: nd.name, Applied: nd.applied, Requests: req, Errors5xx: errs, Panics: panics, Seconds: secs, AtMS: now}
			r.Recent, r.Before = simWindows(nd, v, good, rps, now)
			reports[nd.name] = r
			if i != 0 { // edge-000 holds the lease
				continue
			}
			d := step(plan, names, reports, now)
			switch {
			case d.Rollback:
				plan = rollbackPlan(plan, 3, d.Reason, "sim", now)
				res.rolledBack, res.decided, res.reason = true, time.Duration(now)*time.Millisecond, d.Reason
			case d.Changed:
				plan = d.Plan
			}
		}
		if res.rolledBack && res.restored == 0 {
			back := true
			for _, nd := range nodes {
				if isBad(nd) {
					back = false
				}
			}
			if back {
				res.restored = time.Duration(now) * time.Millisecond
			}
		}
		if plan.State == StateDone && (plan.Kind == KindRollback && res.restored > 0 || plan.Kind != KindRollback && !plan.watched(now)) {
			break
		}
	}
	for _, nd := range nodes {
		if nd.everBad {
			res.reached++
		}
	}
	res.finalVersion = plan.Version
	return res
}

// simWindows are a node's last minute on its version (Recent) and its
// last minute on the version before (Before), as its reports carry them:
// the version before is the good one, run since the start.
func simWindows(nd *simNode, v, good simVersion, rps float64, nowMS int64) (recent, before Counts) {
	w := WatchWindow.Milliseconds()
	counts := func(fromMS, toMS int64, errRate float64) Counts {
		secs := float64(max(0, toMS-fromMS)) / 1000
		req := uint64(rps * secs)
		return Counts{Requests: req, Errors5xx: uint64(float64(req) * errRate), Seconds: secs}
	}
	before = counts(nd.sinceMS-w, nd.sinceMS, good.errRate) // it ran the good one long before
	from := max(nd.sinceMS, nowMS-w)
	recent = counts(from, nowMS, good.errRate)
	if nd.applied == 2 && (v.badOnNode == nil || v.badOnNode(nd.name)) {
		bad := counts(max(from, nd.sinceMS+v.latentMS), nowMS, v.errRate)
		recent.Errors5xx += bad.Errors5xx
		recent.Panics = uint64(bad.Seconds * v.panicsPS)
	}
	return recent, before
}

// canaryOf is the node version 2's plan puts first.
func canaryOf(cfg RolloutConfig) string {
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("edge-%03d", i)
	}
	return stagesFor(2, names, nil, cfg)[0][0]
}

func simConfig() RolloutConfig {
	var c RolloutConfig
	c.SetDefaults() // canaries 1, share 25%, bake 5m, min 100 requests, +1 point
	return c
}

// The 100-node rollout of a bad version, in a model with a fake clock
// (no sleeps): how many nodes it reaches and how long the rollback takes.
// The README quotes these figures.
func TestSimulateHundredNodeBadRollout(t *testing.T) {
	cfg := simConfig()
	cases := []struct {
		name        string
		bad         simVersion
		wantReached int
		within      time.Duration
	}{
		{"all 5xx on every node", simVersion{errRate: 1}, 1, 10 * time.Second},
		{"5% more 5xx", simVersion{errRate: 0.05}, 1, 10 * time.Second},
		{"panics, few 5xx", simVersion{panicsPS: 0.5}, 1, 10 * time.Second},
		{"latent: 5xx after 3 minutes", simVersion{errRate: 0.2, latentMS: 3 * 60_000}, 1, 5 * time.Minute},
		{"latent: 5xx after 8 minutes", simVersion{errRate: 0.2, latentMS: 8 * 60_000}, 25, 15 * time.Minute},
		{"bad on the canary's hardware only", simVersion{errRate: 0.5, badOnNode: func(n string) bool { return n == canaryOf(cfg) }}, 1, 10 * time.Second},
	}
	for _, c := range cases {
		res := simulate(100, cfg, c.bad, 50, time.Hour)
		t.Logf("%-28s reached %3d of 100 nodes; rollback decided %8s after the push, every node back %8s after; %s",
			c.name, res.reached, res.decided, res.restored, res.reason)
		if !res.rolledBack {
			t.Errorf("%s: never rolled back", c.name)
			continue
		}
		if res.reached != c.wantReached {
			t.Errorf("%s: reached %d nodes, want %d", c.name, res.reached, c.wantReached)
		}
		if res.restored > c.within {
			t.Errorf("%s: every node back after %s, want within %s", c.name, res.restored, c.within)
		}
	}
	// After the last stage there is no rest to compare with: the
	// post-rollout watch compares each node's last minute with its last
	// minute on the version before, for rollout.watch (30m).
	for _, c := range []struct {
		name     string
		latentMS int64
		caught   bool
	}{{"latent: 5xx after 12 minutes", 12 * 60_000, true}, {"latent: 5xx after 35 minutes", 35 * 60_000, true},
		{"latent: 5xx after 45 minutes", 45 * 60_000, false}} {
		res := simulate(100, cfg, simVersion{errRate: 0.2, latentMS: c.latentMS}, 50, 2*time.Hour)
		t.Logf("%-28s reached %3d of 100 nodes; rolled back: %v, decided %8s after the push, every node back %8s after; %s",
			c.name, res.reached, res.rolledBack, res.decided, res.restored, res.reason)
		if res.rolledBack != c.caught {
			t.Errorf("%s: rolled back %v, want %v", c.name, res.rolledBack, c.caught)
		}
	}
	// A good version goes everywhere, in three stages and two bakes.
	res := simulate(100, cfg, simVersion{}, 50, time.Hour)
	t.Logf("good version: reached %d, rolled back %v", res.reached, res.rolledBack)
	if res.rolledBack || res.reached != 100 {
		t.Errorf("good version: reached %d, rolled back %v (%s)", res.reached, res.rolledBack, res.reason)
	}
}
