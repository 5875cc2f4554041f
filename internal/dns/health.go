package dns

import "time"

// tracker turns the health checker's raw view into the one steered answers
// use, with damping: an origin that goes down leaves the answers at once,
// one that comes back re-enters only after it stayed healthy for
// restoreAfter, so a flapping origin does not flap the answers.
type tracker struct {
	restoreAfter time.Duration
	now          func() time.Time
	members      map[string]*memberState
}

type memberState struct {
	up      bool      // what answers use
	rawUp   bool      // what the checker said last
	upSince time.Time // when rawUp last turned true
}

func newTracker(restoreAfter time.Duration) *tracker {
	return &tracker{restoreAfter: restoreAfter, now: time.Now, members: map[string]*memberState{}}
}

// update reads health for every member of ms and reports the members' up
// state and whether it changed since the last update. An origin the checker
// knows nothing of yet counts as healthy; one seen for the first time needs
// no damping. Members no longer listed are forgotten, which bounds the map
// by the config.
func (t *tracker) update(h Health, ms []*member) (map[string]bool, bool) {
	now := t.now()
	out := make(map[string]bool, len(ms))
	changed := false
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if seen[m.key] {
			continue
		}
		seen[m.key] = true
		raw := true
		if h != nil {
			healthy, known := h.HealthState(m.pool, m.url)
			raw = healthy || !known
		}
		st, ok := t.members[m.key]
		if !ok {
			st = &memberState{up: raw, rawUp: raw, upSince: now}
			t.members[m.key] = st
			changed = true
		}
		if raw && !st.rawUp {
			st.upSince = now
		}
		st.rawUp = raw
		next := raw && (st.up || now.Sub(st.upSince) >= t.restoreAfter)
		if next != st.up {
			st.up = next
			changed = true
		}
		out[m.key] = st.up
	}
	for k := range t.members {
		if !seen[k] {
			delete(t.members, k)
			changed = true
		}
	}
	return out, changed
}
