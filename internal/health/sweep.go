package health

import "time"

// sweepLoop runs until Stop, re-evaluating every entry each sweepInterval.
func (s *Store) sweepLoop() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep re-evaluates every origin once and updates the pool gauges; the
// sweeper calls it, tests may too.
func (s *Store) Sweep() {
	now := s.now()
	for _, v := range s.snapshotPools() {
		usable := 0
		for _, e := range v.entries {
			e.sweep(now)
			if e.st.Up() {
				usable++
			}
		}
		s.m.usable.WithLabelValues(v.ps.name).Set(float64(usable))
		s.endPanic(v.ps, usable)
	}
}

func (s *Store) endPanic(ps *poolState, usable int) {
	if usable == 0 {
		return
	}
	s.mu.Lock()
	was := ps.panicking
	ps.panicking = false
	s.mu.Unlock()
	if was {
		s.log.Info("health: panic mode over: the pool has a usable origin again", "pool", ps.name, "usable", usable)
	}
}
