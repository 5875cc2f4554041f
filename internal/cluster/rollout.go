package cluster

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Rollout states.
const (
	StateRolling    = "rolling"     // stages advance after their bake
	StatePaused     = "paused"      // no stage advances; nodes reached keep the version
	StateDone       = "done"        // every member runs it
	StateRejected   = "rejected"    // a node refused it; it ran nowhere
	StateRolledBack = "rolled_back" // superseded by the rollback version named in RolledBackBy
)

// Plan kinds.
const (
	KindPush     = "push"
	KindFast     = "fast"     // one stage, no bake; still validated on every node
	KindRollback = "rollback" // the last good version again, under a new number, everywhere at once
)

// Plan is the cluster's rollout, as the store holds it. The pusher writes
// it; every node reads it and applies what it says is its version; the
// node holding the driver lease advances its stages or rolls it back.
// Stage i < len(Stages) is the nodes named there (with every earlier
// stage's); stage len(Stages) is every member.
type Plan struct {
	Version        int64      `json:"version"`
	Previous       int64      `json:"previous"` // the last good version; 0: each node's own config
	Kind           string     `json:"kind"`
	Of             int64      `json:"of,omitempty"` // a rollback: the version it undoes
	State          string     `json:"state"`
	Stages         [][]string `json:"stages"`
	Stage          int        `json:"stage"`
	BakeFromMS     int64      `json:"bake_from_ms,omitempty"` // store clock; 0 while the stage is still applying
	BakeMS         int64      `json:"bake_ms"`
	MinRequests    int        `json:"min_requests"`
	Max5xxIncrease float64    `json:"max_5xx_increase"`
	WatchMS        int64      `json:"watch_ms,omitempty"`
	WatchUntilMS   int64      `json:"watch_until_ms,omitempty"` // store clock; set when done
	Reason         string     `json:"reason,omitempty"`
	RolledBackBy   int64      `json:"rolled_back_by,omitempty"`
	By             string     `json:"by,omitempty"`
	AtMS           int64      `json:"at_ms"`
}

// Report is one node's rollout state and health, published every
// heartbeat. The counts are since it activated Applied, so a canary's
// are the new version's alone.
type Report struct {
	Node      string  `json:"node"`
	Applied   int64   `json:"applied"`
	Rejected  int64   `json:"rejected,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	Requests  uint64  `json:"requests"`
	Errors5xx uint64  `json:"errors_5xx"`
	Panics    uint64  `json:"panics"`
	Seconds   float64 `json:"seconds"`
	AtMS      int64   `json:"at_ms"`
	// Recent is the node's last WatchWindow on Applied (less if it
	// activated it more recently); Before is its last WatchWindow on the
	// version it ran before. The post-rollout watch compares the two.
	Recent Counts `json:"recent"`
	Before Counts `json:"before"`
}

// Counts are a node's requests, 5xx and panics over Seconds.
type Counts struct {
	Requests  uint64  `json:"requests"`
	Errors5xx uint64  `json:"errors_5xx"`
	Panics    uint64  `json:"panics"`
	Seconds   float64 `json:"seconds"`
}

func (c *Counts) add(o Counts) {
	c.Requests += o.Requests
	c.Errors5xx += o.Errors5xx
	c.Panics += o.Panics
	c.Seconds += o.Seconds
}

// reached reports whether node is in a stage the plan has reached.
func (p *Plan) reached(node string) bool {
	if p.Stage >= len(p.Stages) {
		return true
	}
	for _, s := range p.Stages[:p.Stage+1] {
		if slices.Contains(s, node) {
			return true
		}
	}
	return false
}

// target is the version node should run under this plan: the plan's own
// where it reached, the last good one elsewhere.
func (p *Plan) target(node string) int64 {
	switch p.State {
	case StateRolling, StatePaused, StateDone:
		if p.reached(node) {
			return p.Version
		}
	}
	return p.Previous
}

// stagesFor orders the members by a hash of the version and their name
// (so the canaries change from one version to the next, yet every node
// computes the same order) and cuts them into canaries and a share. Named
// canaries go first.
func stagesFor(version int64, members []string, canaries []string, cfg RolloutConfig) [][]string {
	if len(members) == 0 {
		return nil // nobody to stage: every member, when they come
	}
	order := append([]string(nil), members...)
	v := strconv.FormatInt(version, 10)
	sort.Slice(order, func(i, j int) bool {
		hi, hj := xxhash.Sum64String(v+"/"+order[i]), xxhash.Sum64String(v+"/"+order[j])
		if hi != hj {
			return hi < hj
		}
		return order[i] < order[j]
	})
	if len(canaries) > 0 {
		rest := slices.DeleteFunc(order, func(n string) bool { return slices.Contains(canaries, n) })
		order = append(append([]string(nil), canaries...), rest...)
	}
	nc := max(cfg.Canaries, len(canaries))
	nc = min(nc, len(order))
	share := (len(order)*cfg.Share + 99) / 100
	share = max(share, nc)
	stages := [][]string{order[:nc]}
	if share > nc && share < len(order) {
		stages = append(stages, order[nc:share])
	}
	return stages
}

// Decision is what the driver does after looking at the plan.
type Decision struct {
	Plan     Plan   // the plan to write when Changed
	Changed  bool   // write Plan
	Rollback bool   // roll the version back everywhere it reached
	Reason   string // why (a rollback, a rejection, a stage advance)
}

// step is the driver's whole logic, without the store: given the plan,
// the live members, their reports and the store's clock, what happens
// next. The real driver and the simulation both run it.
func step(p Plan, live []string, reports map[string]Report, nowMS int64) Decision {
	if p.watched(nowMS) {
		return watch(p, live, reports)
	}
	if p.State != StateRolling {
		return Decision{Plan: p}
	}
	for _, n := range sortedKeys(reports) {
		r := reports[n]
		if r.Rejected == p.Version {
			reason := fmt.Sprintf("version %d failed validation on %s: %s", p.Version, n, r.Reason)
			if anyApplied(p.Version, reports) {
				return Decision{Plan: p, Rollback: true, Reason: reason}
			}
			p.State, p.Reason = StateRejected, reason
			return Decision{Plan: p, Changed: true, Reason: reason}
		}
	}
	var canary, rest []Report
	pending := 0
	for _, n := range live {
		r, ok := reports[n]
		switch {
		case p.reached(n) && ok && r.Applied >= p.Version:
			canary = append(canary, r)
		case p.reached(n):
			pending++
		case ok:
			rest = append(rest, r)
		}
	}
	if bad, why := worse(p, canary, rest); bad {
		return Decision{Plan: p, Rollback: true, Reason: why}
	}
	if len(rest) == 0 && len(canary) > 0 {
		// The last stage: no rest to compare with, so each node is
		// compared with itself on the version before.
		if d := watch(p, live, reports); d.Rollback {
			return d
		}
	}
	if pending > 0 {
		return Decision{Plan: p}
	}
	if p.BakeFromMS == 0 {
		p.BakeFromMS = nowMS
		return Decision{Plan: p, Changed: true, Reason: fmt.Sprintf("stage %d applied; baking", p.Stage)}
	}
	if nowMS-p.BakeFromMS < p.BakeMS && p.Kind != KindFast {
		return Decision{Plan: p}
	}
	if p.Stage >= len(p.Stages) {
		p.State, p.Reason = StateDone, "every member runs it"
		if p.WatchMS > 0 && p.Kind != KindRollback {
			p.WatchUntilMS = nowMS + p.WatchMS
		}
		return Decision{Plan: p, Changed: true, Reason: p.Reason}
	}
	p.Stage++
	p.BakeFromMS = 0
	return Decision{Plan: p, Changed: true, Reason: fmt.Sprintf("advanced to stage %d", p.Stage)}
}

// worse compares the nodes on the new version with the rest: a higher
// 5xx rate (by more than the plan's margin, once they served enough
// requests) or a higher panic rate. With no rest (the last stage) there
// is nothing to compare against.
func worse(p Plan, canary, rest []Report) (bool, string) {
	if len(canary) == 0 || len(rest) == 0 {
		return false, ""
	}
	c, r := sum(canary), sum(rest)
	if c.Panics > 0 && rate(c.Panics, c.Seconds) > 2*rate(r.Panics, r.Seconds) {
		return true, fmt.Sprintf("version %d: %d panics on %d node(s) running it, %.3f/s against %.3f/s on the rest",
			p.Version, c.Panics, len(canary), rate(c.Panics, c.Seconds), rate(r.Panics, r.Seconds))
	}
	rr := ratio(r.Errors5xx, r.Requests)
	if c.Requests >= uint64(p.MinRequests) {
		if cr := ratio(c.Errors5xx, c.Requests); cr > rr+p.Max5xxIncrease {
			return true, fmt.Sprintf("version %d: 5xx rate %.1f%% on %d node(s) running it against %.1f%% on the rest (margin %.1f points)",
				p.Version, 100*cr, len(canary), 100*rr, 100*p.Max5xxIncrease)
		}
	}
	// One node alone too: a version bad on the canary only would be
	// diluted by the healthy nodes of a later stage.
	for _, n := range canary {
		if n.Requests < uint64(p.MinRequests) {
			continue
		}
		if nr := ratio(n.Errors5xx, n.Requests); nr > rr+p.Max5xxIncrease {
			return true, fmt.Sprintf("version %d: 5xx rate %.1f%% on %s against %.1f%% on the nodes not running it (margin %.1f points)",
				p.Version, 100*nr, n.Node, 100*rr, 100*p.Max5xxIncrease)
		}
	}
	return false, ""
}

func sum(rs []Report) Report {
	var s Report
	for _, r := range rs {
		s.Requests += r.Requests
		s.Errors5xx += r.Errors5xx
		s.Panics += r.Panics
		s.Seconds += r.Seconds
	}
	return s
}

func rate(n uint64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

func ratio(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func anyApplied(v int64, reports map[string]Report) bool {
	for _, r := range reports {
		if r.Applied >= v {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]Report) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rollbackPlan is the plan that undoes bad: the version number w carries
// the last good config again, to every member at once (it ran before, so
// it needs no bake). Nodes that never left the good config only record w.
func rollbackPlan(bad Plan, w int64, reason, by string, nowMS int64) Plan {
	return Plan{Version: w, Previous: w, Kind: KindRollback, Of: bad.Version, State: StateDone, Stages: nil,
		Reason: reason, By: by, AtMS: nowMS, BakeMS: bad.BakeMS, MinRequests: bad.MinRequests, Max5xxIncrease: bad.Max5xxIncrease}
}

// newPlan is the plan of a pushed version v.
func newPlan(v, previous int64, members, canaries []string, cfg RolloutConfig, fast bool, by string, nowMS int64) Plan {
	p := Plan{Version: v, Previous: previous, Kind: KindPush, State: StateRolling, BakeMS: cfg.Bake.D().Milliseconds(),
		MinRequests: cfg.MinRequests, Max5xxIncrease: cfg.Max5xxIncrease, WatchMS: cfg.Watch.D().Milliseconds(), By: by, AtMS: nowMS}
	if fast {
		p.Kind = KindFast
		return p
	}
	p.Stages = stagesFor(v, members, canaries, cfg)
	return p
}

// lastGood is the version a new push falls back to: the current plan's
// own when it is done, the one it fell back to otherwise.
func (p *Plan) lastGood() int64 {
	if p.State == StateDone {
		return p.Version
	}
	return p.Previous
}

// watched reports whether p is done and still in its post-rollout watch.
func (p *Plan) watched(nowMS int64) bool {
	return p.State == StateDone && p.Kind != KindRollback && nowMS < p.WatchUntilMS
}

// watch is the post-rollout watch: once every member runs the version
// there is no rest to compare with, so the nodes on it are compared with
// themselves on the version before (their last WatchWindow each). Worse,
// by the plan's margins, rolls the cluster back.
func watch(p Plan, live []string, reports map[string]Report) Decision {
	var now, before Counts
	for _, n := range live {
		if r, ok := reports[n]; ok && r.Applied == p.Version {
			now.add(r.Recent)
			before.add(r.Before)
			// One node against itself too: a fault that starts on
			// the first nodes reached is diluted in the sum.
			if d := watchCounts(p, n, r.Recent, r.Before); d.Rollback {
				return d
			}
		}
	}
	return watchCounts(p, fmt.Sprintf("%d node(s)", len(live)), now, before)
}

// watchCounts judges one node's, or the sum's, last minute against the
// version before.
func watchCounts(p Plan, who string, now, before Counts) Decision {
	if now.Panics > 0 && rate(now.Panics, now.Seconds) > 2*rate(before.Panics, before.Seconds) {
		return Decision{Plan: p, Rollback: true, Reason: fmt.Sprintf(
			"version %d, after its rollout: %d panics in the last minute on %s, %.3f/s against %.3f/s on the version before",
			p.Version, now.Panics, who, rate(now.Panics, now.Seconds), rate(before.Panics, before.Seconds))}
	}
	least := uint64(p.MinRequests)
	if now.Requests < least || before.Requests < least {
		return Decision{Plan: p}
	}
	if nr, br := ratio(now.Errors5xx, now.Requests), ratio(before.Errors5xx, before.Requests); nr > br+p.Max5xxIncrease {
		return Decision{Plan: p, Rollback: true, Reason: fmt.Sprintf(
			"version %d, after its rollout: 5xx rate %.1f%% in the last minute on %s against %.1f%% on the version before (margin %.1f points)",
			p.Version, 100*nr, who, 100*br, 100*p.Max5xxIncrease)}
	}
	return Decision{Plan: p}
}
