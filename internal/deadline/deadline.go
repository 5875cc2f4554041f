// Package deadline sets connection deadlines without a runtime timer
// update per request. See README.md.
package deadline

import "time"

// Granule is the rounding of a deadline for timeout d: a sixteenth of it.
func Granule(d time.Duration) time.Duration { return d / 16 }

// Round rounds t up to a multiple of g (t itself when zero or g <= 0).
// Within 272 years of 1970 it works in nanoseconds since then: Truncate's
// general 128-bit division was most of Round's cost, and Round runs for
// each deadline a request sets.
func Round(t time.Time, g time.Duration) time.Time {
	if t.IsZero() || g <= 0 {
		return t
	}
	if sec := t.Unix(); sec < -maxUnixSec || sec > maxUnixSec {
		return t.Add(g - 1).Truncate(g)
	}
	ns := t.UnixNano()
	if r := ns % int64(g); r > 0 {
		ns += int64(g) - r
	} else if r < 0 { // before 1970: % keeps the sign
		ns -= r
	}
	return time.Unix(0, ns)
}

// maxUnixSec bounds the seconds from 1970 that Round takes in nanoseconds,
// well inside int64's 292 years.
const maxUnixSec = 1 << 33

// Keep reports whether the deadline set, cur, may stand for t: both are
// none, or cur is t or at most slack later.
func Keep(cur, t time.Time, slack time.Duration) bool {
	if cur.IsZero() || t.IsZero() {
		return cur.IsZero() && t.IsZero()
	}
	return !cur.Before(t) && cur.Sub(t) <= slack
}

// Set sets the deadline t through set, rounded up by at most slack, unless
// *cur (the one set last; zero: none) may stand for it; *cur is updated.
func Set(cur *time.Time, t time.Time, slack time.Duration, set func(time.Time) error) error {
	if Keep(*cur, t, slack) {
		return nil
	}
	t = Round(t, slack)
	*cur = t
	return set(t)
}
