package health

import "time"

// PoolStatus is one pool in /status.
type PoolStatus struct {
	Up      int            `json:"up"`
	Total   int            `json:"total"`
	Panic   bool           `json:"panic_mode"`
	Active  bool           `json:"active_checks"`
	Origins []OriginStatus `json:"origins"`
}

// OriginStatus is one origin in /status.
type OriginStatus struct {
	URL          string     `json:"url"`
	Up           bool       `json:"up"`
	Known        bool       `json:"known"`
	ActiveUp     bool       `json:"active_up"`
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
	Inflight     int64      `json:"in_flight"`
	LatencyMS    float64    `json:"latency_ewma_ms"`
	Ramp         float64    `json:"slow_start_share"`
	LastCheck    *time.Time `json:"last_check,omitempty"`
	LastError    string     `json:"last_error,omitempty"` // the last failure, kept after recovery
	Changes      int        `json:"membership_changes"`
}

// Status returns every pool's health, by pool name.
func (s *Store) Status() map[string]PoolStatus {
	now := s.now()
	out := map[string]PoolStatus{}
	for _, v := range s.snapshotPools() {
		set := v.ps.set.Load()
		s.mu.RLock()
		p := PoolStatus{Total: len(v.entries), Panic: v.ps.panicking, Active: set.cfg != nil && set.cfg.Active != nil}
		s.mu.RUnlock()
		for _, e := range v.entries {
			os := e.status(now)
			if os.Up {
				p.Up++
			}
			p.Origins = append(p.Origins, os)
		}
		out[v.ps.name] = p
	}
	return out
}

func (e *entry) status(now time.Time) OriginStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	os := OriginStatus{URL: e.id, Up: e.st.Up(), Known: e.activeKnown || e.ejections > 0, ActiveUp: e.activeUp,
		Inflight: e.st.Inflight(), LatencyMS: float64(e.st.EWMA().Microseconds()) / 1000,
		Ramp: e.st.Ramp(now.UnixNano()), LastError: e.lastErr, Changes: e.changes}
	if u := e.ejUntil.Load(); u > now.UnixNano() {
		t := time.Unix(0, u).UTC()
		os.EjectedUntil = &t
	}
	if !e.lastCheck.IsZero() {
		t := e.lastCheck.UTC()
		os.LastCheck = &t
	}
	return os
}
